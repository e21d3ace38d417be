// Board health of a Raspberry Pi: CPU temperature from the kernel's thermal zone (millidegrees
// Celsius in sysfs) and the firmware's throttling / under-voltage flags (`vcgencmd get_throttled`).
// Both are absent on other machines: the Try methods then return false rather than throw. Paths
// are injectable so tests use temp files and a fake vcgencmd script.

using System.Diagnostics;
using System.Globalization;

namespace Edge.Hardware.Board;

/// <summary>Bits of the Pi firmware's get_throttled value.</summary>
[Flags]
public enum PiThrottleFlags : uint
{
    None = 0,
    UnderVoltageNow = 1u << 0,
    ArmFrequencyCappedNow = 1u << 1,
    ThrottledNow = 1u << 2,
    SoftTemperatureLimitNow = 1u << 3,
    UnderVoltageSinceBoot = 1u << 16,
    ArmFrequencyCappedSinceBoot = 1u << 17,
    ThrottledSinceBoot = 1u << 18,
    SoftTemperatureLimitSinceBoot = 1u << 19,
}

/// <summary>One reading of the throttling flags.</summary>
/// <param name="Raw">The value as the firmware gave it, with bits this code does not name.</param>
public readonly record struct PiThrottling(uint Raw)
{
    public PiThrottleFlags Flags => (PiThrottleFlags)Raw;

    public bool UnderVoltageNow => Flags.HasFlag(PiThrottleFlags.UnderVoltageNow);

    public bool UnderVoltageSinceBoot => Flags.HasFlag(PiThrottleFlags.UnderVoltageSinceBoot);

    /// <summary>Any "now" bit (0..3): the board is limited at this moment.</summary>
    public bool LimitedNow => (Raw & 0xF) != 0;

    /// <summary>Any "since boot" bit (16..19).</summary>
    public bool LimitedSinceBoot => (Raw & 0xF_0000) != 0;

    public override string ToString() => $"0x{Raw:x} ({(Raw == 0 ? "none" : Flags.ToString())})";

    /// <summary>Parses vcgencmd's "throttled=0x50005" (or a bare hex value, as in the sysfs file).</summary>
    public static bool TryParse(string? text, out PiThrottling throttling)
    {
        throttling = default;
        var value = text?.Trim();
        if (string.IsNullOrEmpty(value))
        {
            return false;
        }

        const string Prefix = "throttled=";
        if (value.StartsWith(Prefix, StringComparison.Ordinal))
        {
            value = value[Prefix.Length..];
        }

        if (value.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            value = value[2..];
        }

        if (value.Length == 0 || !uint.TryParse(value, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var raw))
        {
            return false;
        }

        throttling = new PiThrottling(raw);
        return true;
    }
}

public sealed class BoardHealthReader
{
    public const string DefaultThermalZonePath = "/sys/class/thermal/thermal_zone0/temp";

    /// <summary>Where Raspberry Pi OS installs vcgencmd (Debian's raspi-utils / libraspberrypi-bin).</summary>
    public static readonly IReadOnlyList<string> DefaultVcgencmdPaths = ["/usr/bin/vcgencmd", "/opt/vc/bin/vcgencmd"];

    /// <summary>Plausible range for a CPU die; anything outside is a wrong file or a broken sensor.</summary>
    private const double MinCelsius = -60, MaxCelsius = 150;

    private static readonly TimeSpan VcgencmdTimeout = TimeSpan.FromSeconds(5);

    private readonly string _thermalZonePath;
    private readonly IReadOnlyList<string> _vcgencmdPaths;

    /// <param name="thermalZonePath">File with the temperature in millidegrees Celsius.</param>
    /// <param name="vcgencmdPaths">Candidate paths of vcgencmd; the first that exists is run.</param>
    public BoardHealthReader(string thermalZonePath = DefaultThermalZonePath, IReadOnlyList<string>? vcgencmdPaths = null)
    {
        _thermalZonePath = thermalZonePath;
        _vcgencmdPaths = vcgencmdPaths ?? DefaultVcgencmdPaths;
    }

    /// <summary>Reads the CPU temperature; false when the file is absent, unreadable or not a plausible value.</summary>
    public bool TryReadCpuTemperature(out double celsius)
    {
        celsius = double.NaN;
        string text;
        try
        {
            text = File.ReadAllText(_thermalZonePath).Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }

        if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var milli))
        {
            return false;
        }

        var value = milli / 1000.0;
        if (value < MinCelsius || value > MaxCelsius)
        {
            return false;
        }

        celsius = value;
        return true;
    }

    /// <summary>
    /// Runs <c>vcgencmd get_throttled</c> and parses its bitfield; false when vcgencmd is absent,
    /// fails, times out or prints something else.
    /// </summary>
    public bool TryReadThrottling(out PiThrottling throttling)
    {
        throttling = default;
        var path = _vcgencmdPaths.FirstOrDefault(File.Exists);
        if (path is null)
        {
            return false;
        }

        try
        {
            using var process = new Process();
            process.StartInfo.FileName = path;
            process.StartInfo.ArgumentList.Add("get_throttled");
            process.StartInfo.RedirectStandardOutput = true;
            process.StartInfo.RedirectStandardError = true;
            process.StartInfo.UseShellExecute = false;
            process.Start();
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(VcgencmdTimeout))
            {
                // A wedged firmware mailbox must not hang the health loop.
                process.Kill(entireProcessTree: true);
                return false;
            }

            return process.ExitCode == 0 && stdout.Wait(VcgencmdTimeout) && PiThrottling.TryParse(stdout.Result, out throttling);
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or IOException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Both readings at once; null where a reading is not available.</summary>
    public BoardHealth Read() => new(
        TryReadCpuTemperature(out var celsius) ? celsius : null,
        TryReadThrottling(out var throttling) ? throttling : null);
}

/// <summary>A snapshot of board health; null members were not available on this machine.</summary>
public sealed record BoardHealth(double? CpuTemperatureCelsius, PiThrottling? Throttling);
