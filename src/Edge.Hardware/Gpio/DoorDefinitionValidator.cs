// Checks a site's list of door definitions before any pin is opened: every error names the
// configuration key (Doors[1].ContactPin, Doors[0].Cameras[1]), what was expected, what was found
// and what to do. Pins are checked across all doors and inputs, because two inputs on one line
// would silently read the same contact.

using System.Device.Gpio;

namespace Edge.Hardware.Gpio;

public static class DoorDefinitionValidator
{
    /// <summary>Highest BCM GPIO number on the 40-pin header of a Pi 3, 4 or 5.</summary>
    public const int HighestHeaderGpio = 27;

    public static readonly TimeSpan MaxDebounce = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan MaxHeldOpenLimit = TimeSpan.FromHours(24);
    public static readonly TimeSpan MaxExitWindow = TimeSpan.FromMinutes(10);
    public const int MaxChatterLimit = 1000;

    /// <summary>
    /// Returns one message per problem (empty when the list is valid).
    /// </summary>
    /// <param name="doors">The configured doors, in configuration order.</param>
    /// <param name="cameraIds">Ids of the cameras defined in the configuration.</param>
    /// <param name="section">Configuration section the list comes from, used in key paths.</param>
    public static IReadOnlyList<string> Validate(IReadOnlyList<DoorDefinition> doors, IReadOnlySet<string> cameraIds, string section = "Doors")
    {
        var errors = new List<string>();
        var idOwners = new Dictionary<string, string>(StringComparer.Ordinal);
        var pinOwners = new Dictionary<int, string>();

        for (var i = 0; i < doors.Count; i++)
        {
            ValidateDoor(doors[i], $"{section}[{i}]", idOwners, pinOwners, cameraIds, errors);
        }

        return errors;
    }

    /// <summary>Checks one door on its own (no camera list, no other doors); keys start with <paramref name="prefix"/>.</summary>
    internal static IReadOnlyList<string> ValidateOne(DoorDefinition door, string prefix)
    {
        var errors = new List<string>();
        ValidateDoor(door, prefix, [], [], null, errors);
        return errors;
    }

    private static void ValidateDoor(DoorDefinition? door, string at, Dictionary<string, string> idOwners, Dictionary<int, string> pinOwners,
        IReadOnlySet<string>? cameraIds, List<string> errors)
    {
        if (door is null)
        {
            errors.Add($"{at}: expected a door definition; found null. Remove the empty entry.");
            return;
        }

        CheckId(door, at, idOwners, errors);

        CheckPin(door.ContactPin, $"{at}.ContactPin", "door contact", pinOwners, errors);
        CheckPull(door.ContactPull, $"{at}.ContactPull", errors);
        CheckLevel(door.ContactClosedLevel, $"{at}.ContactClosedLevel",
            "the level the contact gives while the door is closed (a reed contact to ground with a pull-up: \"low\")", errors);

        if (door.ExitButtonPin is { } buttonPin)
        {
            CheckPin(buttonPin, $"{at}.ExitButtonPin", "exit button", pinOwners, errors);
            CheckPull(door.ExitButtonPull, $"{at}.ExitButtonPull", errors);
            CheckLevel(door.ExitButtonPressedLevel, $"{at}.ExitButtonPressedLevel",
                "the level the exit button gives while pressed (a button to ground with a pull-up: \"low\")", errors);
        }
        else if (door.ExitButtonPressedLevel is not null)
        {
            errors.Add($"{at}.ExitButtonPressedLevel: set, but {at}.ExitButtonPin is missing. Set the exit button's BCM pin or remove ExitButtonPressedLevel.");
        }

        if (door.Schedule is not null && !WeeklySchedule.TryParse(door.Schedule, out _, out var scheduleError))
        {
            errors.Add($"{at}.Schedule: {scheduleError}. Write windows like \"Mon-Fri 08:00-19:00; Sat 09:00-12:00\", or remove Schedule for no schedule.");
        }

        CheckDuration(door.Debounce, $"{at}.Debounce", TimeSpan.Zero, MaxDebounce, allowZero: true, errors);
        CheckDuration(door.HeldOpenLimit, $"{at}.HeldOpenLimit", TimeSpan.FromSeconds(1), MaxHeldOpenLimit, allowZero: false, errors);
        CheckDuration(door.ExitWindow, $"{at}.ExitWindow", TimeSpan.FromMilliseconds(1), MaxExitWindow, allowZero: false, errors);

        if (door.ChatterLimit < 1 || door.ChatterLimit > MaxChatterLimit)
        {
            errors.Add($"{at}.ChatterLimit: expected changes per second from 1 to {MaxChatterLimit}; found {door.ChatterLimit}. The default is {DoorDefinition.DefaultChatterLimit}.");
        }

        if (cameraIds is not null)
        {
            CheckCameras(door, at, cameraIds, errors);
        }
    }

    private static void CheckId(DoorDefinition door, string at, Dictionary<string, string> idOwners, List<string> errors)
    {
        var key = $"{at}.Id";
        if (string.IsNullOrWhiteSpace(door.Id))
        {
            errors.Add($"{key}: missing; give the door a stable id such as \"server-room-1\".");
            return;
        }

        if (!door.Id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
        {
            errors.Add($"{key}: expected only ASCII letters, digits, '-', '_' or '.' (the id goes into event keys and topics); found \"{door.Id}\". Rename the door.");
            return;
        }

        if (idOwners.TryGetValue(door.Id, out var owner))
        {
            errors.Add($"{key}: door id \"{door.Id}\" is already used by {owner}. Give each door its own id.");
            return;
        }

        idOwners[door.Id] = key;
    }

    private static void CheckPin(int pin, string key, string what, Dictionary<int, string> pinOwners, List<string> errors)
    {
        if (pin == -1)
        {
            errors.Add($"{key}: missing; set the BCM GPIO number of the {what} (GPIO17 is 17).");
            return;
        }

        if (pin < 0 || pin > HighestHeaderGpio)
        {
            errors.Add($"{key}: expected a BCM GPIO number from 0 to {HighestHeaderGpio}; found {pin}. Use the GPIO number (GPIO17 is 17), not the header pin number.");
            return;
        }

        if (pinOwners.TryGetValue(pin, out var owner))
        {
            errors.Add($"{key}: pin {pin} is already used by {owner}. Wire the {what} to a free GPIO and change one of them.");
            return;
        }

        pinOwners[pin] = key;
    }

    private static void CheckPull(GpioPull pull, string key, List<string> errors)
    {
        if (!Enum.IsDefined(pull))
        {
            errors.Add($"{key}: expected \"up\", \"down\" or \"none\"; found {(int)pull}.");
        }
    }

    private static void CheckLevel(PinLevel? level, string key, string meaning, List<string> errors)
    {
        if (level is null)
        {
            errors.Add($"{key}: missing; set \"low\" or \"high\": {meaning}.");
        }
        else if (!Enum.IsDefined(level.Value))
        {
            errors.Add($"{key}: expected \"low\" or \"high\"; found {(int)level.Value}.");
        }
    }

    private static void CheckDuration(TimeSpan value, string key, TimeSpan min, TimeSpan max, bool allowZero, List<string> errors)
    {
        var low = allowZero ? TimeSpan.Zero : min;
        if (value < low || value > max)
        {
            errors.Add($"{key}: expected a duration from {low:c} to {max:c}; found {value:c}.");
        }
    }

    private static void CheckCameras(DoorDefinition door, string at, IReadOnlySet<string> cameraIds, List<string> errors)
    {
        if (door.Cameras is null)
        {
            return;
        }

        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var j = 0; j < door.Cameras.Count; j++)
        {
            var key = $"{at}.Cameras[{j}]";
            var camera = door.Cameras[j];
            if (string.IsNullOrWhiteSpace(camera))
            {
                errors.Add($"{key}: expected a camera id; found an empty value. Remove it or name a defined camera.");
                continue;
            }

            if (!cameraIds.Contains(camera))
            {
                var known = cameraIds.Count == 0 ? "no cameras are defined" : "defined cameras: " + string.Join(", ", cameraIds.Order(StringComparer.Ordinal));
                errors.Add($"{key}: camera \"{camera}\" is not defined ({known}). Fix the id or define the camera.");
                continue;
            }

            if (seen.TryGetValue(camera, out var first))
            {
                errors.Add($"{key}: camera \"{camera}\" is already listed as {at}.Cameras[{first}]. Remove the duplicate.");
                continue;
            }

            seen[camera] = j;
        }
    }

    internal static PinMode ToPinMode(GpioPull pull) => pull switch
    {
        GpioPull.Up => PinMode.InputPullUp,
        GpioPull.Down => PinMode.InputPullDown,
        _ => PinMode.Input,
    };
}
