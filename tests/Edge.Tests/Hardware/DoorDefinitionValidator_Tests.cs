// Door configuration errors: each names its key, what was expected and what was found.

using Edge.Hardware.Gpio;

namespace Edge.Tests.Hardware;

public class DoorDefinitionValidator_Tests
{
    private static readonly IReadOnlySet<string> Cameras = new HashSet<string> { "cam-1", "cam-2" };

    private static DoorDefinition Door(string id, int contact, int? button = null) => new()
    {
        Id = id,
        ContactPin = contact,
        ContactClosedLevel = PinLevel.Low,
        ExitButtonPin = button,
        ExitButtonPressedLevel = button is null ? null : PinLevel.Low,
        Schedule = "Mon-Fri 08:00-19:00",
        Cameras = ["cam-1"],
    };

    [Fact]
    public void Valid_doors_give_no_errors()
    {
        var errors = DoorDefinitionValidator.Validate([Door("a", 17, 27), Door("b", 22, 23) with { Cameras = ["cam-1", "cam-2"] }], Cameras);

        Assert.Empty(errors);
    }

    [Fact]
    public void Pin_used_by_two_doors_names_both_keys()
    {
        var errors = DoorDefinitionValidator.Validate([Door("a", 17), Door("b", 17)], Cameras);

        Assert.Equal(["Doors[1].ContactPin: pin 17 is already used by Doors[0].ContactPin. Wire the door contact to a free GPIO and change one of them."], errors);
    }

    [Fact]
    public void Exit_button_on_a_pin_used_as_a_contact_names_both_keys()
    {
        var errors = DoorDefinitionValidator.Validate([Door("a", 17), Door("b", 22, button: 17)], Cameras);

        Assert.Contains(errors, e => e.StartsWith("Doors[1].ExitButtonPin: pin 17 is already used by Doors[0].ContactPin", StringComparison.Ordinal));
    }

    [Fact]
    public void Negative_debounce_is_refused_with_the_allowed_range()
    {
        var errors = DoorDefinitionValidator.Validate([Door("a", 17) with { Debounce = TimeSpan.FromMilliseconds(-50) }], Cameras);

        Assert.Equal(["Doors[0].Debounce: expected a duration from 00:00:00 to 00:00:01; found -00:00:00.0500000."], errors);
    }

    [Fact]
    public void Bad_schedule_text_says_which_window_and_what_is_wrong()
    {
        var errors = DoorDefinitionValidator.Validate([Door("a", 17), Door("b", 22) with { Schedule = "Mon-Fri 08:00-19:00; Sat 9:00-12:00" }], Cameras);

        var error = Assert.Single(errors);
        Assert.StartsWith("Doors[1].Schedule: window 2 \"Sat 9:00-12:00\": expected a time as HH:mm from 00:00 to 23:59; found \"9:00\".", error);
    }

    [Fact]
    public void Unknown_camera_is_named_by_its_index_with_the_defined_cameras_listed()
    {
        var errors = DoorDefinitionValidator.Validate([Door("a", 17) with { Cameras = ["cam-1", "cam-9"] }], Cameras);

        Assert.Equal(["Doors[0].Cameras[1]: camera \"cam-9\" is not defined (defined cameras: cam-1, cam-2). Fix the id or define the camera."], errors);
    }

    [Fact]
    public void Missing_closed_level_and_pin_say_what_to_set()
    {
        var errors = DoorDefinitionValidator.Validate([new DoorDefinition { Id = "a" }], Cameras);

        Assert.Contains("Doors[0].ContactPin: missing; set the BCM GPIO number of the door contact (GPIO17 is 17).", errors);
        Assert.Contains(errors, e => e.StartsWith("Doors[0].ContactClosedLevel: missing; set \"low\" or \"high\"", StringComparison.Ordinal));
    }

    [Fact]
    public void Header_pin_number_instead_of_a_bcm_number_is_refused()
    {
        var errors = DoorDefinitionValidator.Validate([Door("a", 40)], Cameras);

        Assert.Equal(["Doors[0].ContactPin: expected a BCM GPIO number from 0 to 27; found 40. Use the GPIO number (GPIO17 is 17), not the header pin number."], errors);
    }

    [Fact]
    public void Exit_button_without_a_pressed_level_is_refused()
    {
        var errors = DoorDefinitionValidator.Validate([Door("a", 17, 27) with { ExitButtonPressedLevel = null }], Cameras);

        Assert.Contains(errors, e => e.StartsWith("Doors[0].ExitButtonPressedLevel: missing", StringComparison.Ordinal));
    }

    [Fact]
    public void Duplicate_door_ids_and_unsafe_ids_are_refused()
    {
        var errors = DoorDefinitionValidator.Validate([Door("a", 17), Door("a", 22), Door("b/c", 23)], Cameras);

        Assert.Equal(
        [
            "Doors[1].Id: door id \"a\" is already used by Doors[0].Id. Give each door its own id.",
            "Doors[2].Id: expected only ASCII letters, digits, '-', '_' or '.' (the id goes into event keys and topics); found \"b/c\". Rename the door.",
        ], errors);
    }

    [Fact]
    public void Limits_outside_their_ranges_are_each_reported()
    {
        var door = Door("a", 17) with { HeldOpenLimit = TimeSpan.Zero, ExitWindow = TimeSpan.FromHours(1), ChatterLimit = 0 };

        var errors = DoorDefinitionValidator.Validate([door], Cameras);

        Assert.Equal(
        [
            "Doors[0].HeldOpenLimit: expected a duration from 00:00:01 to 1.00:00:00; found 00:00:00.",
            "Doors[0].ExitWindow: expected a duration from 00:00:00.0010000 to 00:10:00; found 01:00:00.",
            "Doors[0].ChatterLimit: expected changes per second from 1 to 1000; found 0. The default is 10.",
        ], errors);
    }
}
