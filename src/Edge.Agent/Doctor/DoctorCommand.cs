// `edge doctor`: the technician's on-site checklist (docs/guide/install.md, "Checking the box"). One line per check,
// OK / WARN / FAIL, each problem with what to do. Exit 1 when any check FAILs, 0 otherwise (warnings included), 2 when
// edge.json itself is wrong (the configuration error names the key). It never opens the index, so it runs beside
// the agent; it asks the agent whether it is running through the control socket.
using System.CommandLine;
using Edge.Agent.Cli;
using Edge.Agent.Configuration;

namespace Edge.Agent.Doctor;

public static class DoctorCommand
{
    public sealed record DoctorJson(string SiteId, string DeviceId, DateTimeOffset At, int Failures, int Warnings, IReadOnlyList<DoctorCheck> Checks);

    public static void Register(RootCommand root, CommandContext context, Func<Option<FileInfo>> configOption, Func<Option<bool>> jsonOption)
    {
        var config = configOption();
        var json = jsonOption();
        var doctor = new Command("doctor", "The technician's checklist: ffmpeg, cameras, doors, volumes, clock, broker, keys, power; OK / WARN / FAIL with what to do") { config, json };
        doctor.SetAction((parse, ct) => RunAsync(parse.GetValue(config)!, parse.GetValue(json), context, new DoctorEnvironment(), ct));
        root.Add(doctor);
    }

    public static async Task<int> RunAsync(FileInfo configFile, bool json, CommandContext context, DoctorEnvironment environment, CancellationToken cancellationToken)
    {
        var settings = EdgeConfigLoader.Load(configFile.FullName);
        var checks = await new DoctorChecks(settings, context.Time, environment).RunAsync(cancellationToken).ConfigureAwait(false);
        int failures = checks.Count(c => c.Level == CheckLevel.Fail), warnings = checks.Count(c => c.Level == CheckLevel.Warn);
        if (json)
            CliJson.Write(context.Out, new DoctorJson(settings.SiteId, settings.DeviceId, settings.ToSiteTime(context.Time.GetUtcNow()), failures, warnings, checks));
        else
        {
            var o = context.Out;
            o.WriteLine($"edge doctor: site {settings.SiteId}, device {settings.DeviceId}, {settings.ConfigPath}");
            int width = checks.Max(c => Label(c).Length);
            foreach (var c in checks)
            {
                o.WriteLine($"{c.Level.ToString().ToUpperInvariant(),-5} {Label(c).PadRight(width)}  {c.Detail}");
                if (c.Fix is { } fix) o.WriteLine($"{"",-5} {"".PadRight(width)}  → {fix}");
            }
            o.WriteLine($"{failures} FAIL, {warnings} WARN, {checks.Count - failures - warnings} OK");
        }
        if (failures > 0) context.Err.WriteLine($"edge: doctor: {failures} check(s) failed: {string.Join(", ", checks.Where(c => c.Level == CheckLevel.Fail).Select(Label))}");
        return failures > 0 ? EdgeCli.ExitFailure : EdgeCli.ExitOk;
    }

    private static string Label(DoctorCheck c) => c.Subject is null ? c.Check : $"{c.Check} {c.Subject}";
}
