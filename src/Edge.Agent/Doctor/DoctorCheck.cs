namespace Edge.Agent.Doctor;

public enum CheckLevel { Ok, Warn, Fail }

/// <summary>
/// One line of the technician's checklist.
/// </summary>
/// <param name="Check">What was checked: ffmpeg, camera, door, volume, clock, broker, key, board, agent.</param>
/// <param name="Subject">Which one (a camera id, a door id, a volume path, a key file), or null.</param>
/// <param name="Detail">What was found, with the numbers.</param>
/// <param name="Fix">What to do about it; null when there is nothing to do.</param>
public sealed record DoctorCheck(string Check, string? Subject, CheckLevel Level, string Detail, string? Fix = null)
{
    public static DoctorCheck Ok(string check, string? subject, string detail) => new(check, subject, CheckLevel.Ok, detail);
    public static DoctorCheck Warn(string check, string? subject, string detail, string fix) => new(check, subject, CheckLevel.Warn, detail, fix);
    public static DoctorCheck Fail(string check, string? subject, string detail, string fix) => new(check, subject, CheckLevel.Fail, detail, fix);
}
