// Board health readers on fake sysfs files and a fake vcgencmd script in a temp directory.

using Edge.Hardware.Board;

namespace Edge.Tests.Hardware;

public sealed class BoardHealthReader_Tests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("edge-board-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string File_(string name, string content)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, content);
        return path;
    }

    private string FakeVcgencmd(string script)
    {
        var path = File_("vcgencmd", "#!/bin/sh\n" + script + "\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        return path;
    }

    [Fact]
    public void Cpu_temperature_is_read_from_millidegrees()
    {
        var reader = new BoardHealthReader(File_("temp", "48312\n"), []);

        Assert.True(reader.TryReadCpuTemperature(out var celsius));
        Assert.Equal(48.312, celsius, precision: 3);
    }

    [Theory]
    [InlineData("")]
    [InlineData("warm\n")]
    [InlineData("48.3\n")]
    [InlineData("999000\n")] // 999 °C: not a CPU reading
    public void Unusable_temperature_file_gives_false(string content)
    {
        var reader = new BoardHealthReader(File_("temp", content), []);

        Assert.False(reader.TryReadCpuTemperature(out var celsius));
        Assert.True(double.IsNaN(celsius));
    }

    [Fact]
    public void Missing_thermal_zone_gives_false()
    {
        var reader = new BoardHealthReader(Path.Combine(_dir, "no-such-zone", "temp"), []);

        Assert.False(reader.TryReadCpuTemperature(out _));
    }

    [Fact]
    public void Throttling_flags_come_from_vcgencmd_get_throttled()
    {
        var vcgencmd = FakeVcgencmd("[ \"$1\" = get_throttled ] && echo throttled=0x50005 || exit 2");
        var reader = new BoardHealthReader(Path.Combine(_dir, "none"), [Path.Combine(_dir, "absent"), vcgencmd]);

        Assert.True(reader.TryReadThrottling(out var throttling));
        Assert.Equal(0x50005u, throttling.Raw);
        Assert.True(throttling.UnderVoltageNow);
        Assert.True(throttling.UnderVoltageSinceBoot);
        Assert.Equal(PiThrottleFlags.UnderVoltageNow | PiThrottleFlags.ThrottledNow | PiThrottleFlags.UnderVoltageSinceBoot | PiThrottleFlags.ThrottledSinceBoot, throttling.Flags);
    }

    [Fact]
    public void Failing_or_absent_vcgencmd_gives_false()
    {
        var failing = new BoardHealthReader(Path.Combine(_dir, "none"), [FakeVcgencmd("echo 'VCHI initialization failed' >&2; exit 255")]);
        var absent = new BoardHealthReader(Path.Combine(_dir, "none"), [Path.Combine(_dir, "absent")]);

        Assert.False(failing.TryReadThrottling(out _));
        Assert.False(absent.TryReadThrottling(out _));
    }

    [Fact]
    public void Snapshot_has_null_where_a_reading_is_absent()
    {
        var reader = new BoardHealthReader(File_("temp", "51000"), [Path.Combine(_dir, "absent")]);

        Assert.Equal(new BoardHealth(51.0, null), reader.Read());
    }

    [Theory]
    [InlineData("throttled=0x0", 0x0u)]
    [InlineData("throttled=0x80008\n", 0x80008u)]
    [InlineData("0x20002", 0x20002u)]
    [InlineData("50005", 0x50005u)]
    public void Get_throttled_output_parses_as_a_hex_bitfield(string text, uint expected)
    {
        Assert.True(PiThrottling.TryParse(text, out var throttling));
        Assert.Equal(expected, throttling.Raw);
    }

    [Theory]
    [InlineData("throttled=")]
    [InlineData("throttled=0xZZ")]
    [InlineData("error=1 error_msg=\"Command not registered\"")]
    public void Unexpected_get_throttled_output_is_refused(string text)
    {
        Assert.False(PiThrottling.TryParse(text, out _));
    }

    [Fact]
    public void Since_boot_bits_are_told_apart_from_now_bits()
    {
        Assert.True(PiThrottling.TryParse("throttled=0x10000", out var t));

        Assert.False(t.UnderVoltageNow);
        Assert.True(t.UnderVoltageSinceBoot);
        Assert.False(t.LimitedNow);
        Assert.True(t.LimitedSinceBoot);
    }
}
