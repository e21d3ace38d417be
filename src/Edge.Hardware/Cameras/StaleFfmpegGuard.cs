// When the agent is killed (SIGKILL, OOM, power glitch of the service) its ffmpeg children live on and keep writing
// into staging. The next agent must not run a second ffmpeg beside the orphan: each recorder leaves the pid of its
// ffmpeg in its staging directory and kills a surviving one at start. Under systemd, KillMode=control-group does
// the same; this guard covers `edge run` outside systemd and the demo.
namespace Edge.Hardware.Cameras;

public static class StaleFfmpegGuard
{
    public static string PidFilePath(string stagingDirectory) => Path.Combine(stagingDirectory, "ffmpeg.pid");

    public static void Remember(string stagingDirectory, int pid) =>
        File.WriteAllText(PidFilePath(stagingDirectory), pid.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <returns>The pid killed, if any.</returns>
    public static int? KillSurvivor(string stagingDirectory)
    {
        var pidFile = PidFilePath(stagingDirectory);
        if (!File.Exists(pidFile)) return null;
        try
        {
            if (!int.TryParse(File.ReadAllText(pidFile).Trim(), out int pid)) return null;
            // Only a process whose command line writes into this very staging directory is ours: pids are reused.
            var cmdline = Path.Combine("/proc", pid.ToString(System.Globalization.CultureInfo.InvariantCulture), "cmdline");
            if (!File.Exists(cmdline) || !File.ReadAllText(cmdline).Contains(stagingDirectory, StringComparison.Ordinal)) return null;
            using var survivor = System.Diagnostics.Process.GetProcessById(pid);
            survivor.Kill();
            survivor.WaitForExit(5000);
            return pid;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or System.ComponentModel.Win32Exception)
        {
            return null; // already gone
        }
        finally
        {
            File.Delete(pidFile);
        }
    }
}
