// Driver and chip selection. The native side (which libgpiod is installed, which chips exist) is
// replaced by a table, because this machine has no GPIO chips; the controllers built are real.

using System.Device.Gpio;
using Edge.Hardware.Gpio;

namespace Edge.Tests.Hardware;

public class GpioControllerFactory_Tests
{
    private static readonly GpioChipInfo Pi5Rp1 = new(0, "gpiochip0", "pinctrl-rp1", 54);
    private static readonly GpioChipInfo Pi5Brcm = new(10, "gpiochip10", "gpio-brcmstb@107d508500", 32);
    private static readonly GpioChipInfo Pi4 = new(0, "gpiochip0", "pinctrl-bcm2711", 58);
    private static readonly GpioChipInfo Pi4Expander = new(1, "gpiochip1", "raspberrypi-exp-gpio", 8);

    [Fact]
    public void Simulated_kind_wraps_the_given_driver_so_code_can_drive_it()
    {
        var driver = new SimulatedGpioDriver();
        using var controller = GpioControllerFactory.Create(GpioDriverKind.Simulated, new GpioControllerOptions { SimulatedDriver = driver }, out var description);
        controller.OpenPin(17, PinMode.InputPullUp);

        driver.SetInputLevel(17, PinValue.Low);

        Assert.Equal(PinValue.Low, controller.Read(17));
        Assert.Equal("simulated GPIO driver, chip \"edge-simulated\" (28 lines)", description);
    }

    [Fact]
    public void Machine_without_libgpiod_gets_an_error_that_points_to_the_simulated_driver()
    {
        var access = new TableAccess();

        var error = Assert.Throws<GpioUnavailableException>(() =>
            GpioControllerFactory.Create(GpioDriverKind.Libgpiod, null, access, out _));

        Assert.StartsWith("No libgpiod found (libgpiod.so.3: not found; libgpiod.so.2: not found).", error.Message);
        Assert.Contains("on a test machine set Gpio.Driver to \"simulated\"", error.Message);
    }

    [Theory]
    [InlineData("pinctrl-rp1")]
    [InlineData("pinctrl-bcm2711")]
    [InlineData("pinctrl-bcm2835")]
    public void Header_chip_is_found_by_its_label_whatever_its_number(string label)
    {
        var header = new GpioChipInfo(4, "gpiochip4", label, 54);

        var chosen = GpioControllerFactory.SelectChip([Pi5Brcm, Pi4Expander, header], chipLabel: null);

        Assert.Same(header, chosen);
    }

    [Fact]
    public void Configured_chip_label_overrides_the_known_labels()
    {
        var chosen = GpioControllerFactory.SelectChip([Pi5Rp1, Pi5Brcm], chipLabel: "gpio-brcmstb@107d508500");

        Assert.Same(Pi5Brcm, chosen);
    }

    [Fact]
    public void No_matching_chip_lists_the_chips_found_and_the_setting_to_change()
    {
        var error = Assert.Throws<GpioUnavailableException>(() => GpioControllerFactory.SelectChip([Pi4Expander], null));

        Assert.StartsWith("No GPIO chip labelled \"pinctrl-rp1\", \"pinctrl-bcm2711\", \"pinctrl-bcm2835\"; found gpiochip1 \"raspberrypi-exp-gpio\" (8 lines).", error.Message);
        Assert.Contains("Gpio.ChipLabel", error.Message);
    }

    [Fact]
    public void No_chips_at_all_points_to_device_permissions()
    {
        var error = Assert.Throws<GpioUnavailableException>(() => GpioControllerFactory.SelectChip([], null));

        Assert.Contains("/dev/gpiochip*", error.Message);
        Assert.Contains("gpio group", error.Message);
    }

    [Fact]
    public void V2_library_is_preferred_and_opens_the_chip_found_by_label()
    {
        var access = new TableAccess { V2 = true, V1 = true, Chips = [Pi4Expander, Pi4] };

        using var controller = GpioControllerFactory.Create(GpioDriverKind.Libgpiod, null, access, out var description);

        Assert.Equal((GpioControllerFactory.LibgpiodApi.V2, Pi4), access.Created.Single());
        Assert.Equal("libgpiod v2 API (libgpiod.so.3), gpiochip0 \"pinctrl-bcm2711\" (58 lines)", description);
    }

    [Fact]
    public void V1_library_is_used_when_the_v2_library_fails()
    {
        var access = new TableAccess { V2 = true, V1 = true, Chips = [Pi4], V2Fails = true };

        using var controller = GpioControllerFactory.Create(GpioDriverKind.Libgpiod, null, access, out var description);

        Assert.Equal((GpioControllerFactory.LibgpiodApi.V1, Pi4), access.Created.Single());
        Assert.StartsWith("libgpiod v1 API (libgpiod.so.2)", description);
    }

    [Fact]
    public void Library_that_fails_is_reported_with_its_error()
    {
        var access = new TableAccess { V1 = true, Chips = [Pi4], V1Fails = true };

        var error = Assert.Throws<GpioUnavailableException>(() => GpioControllerFactory.Create(GpioDriverKind.Libgpiod, null, access, out _));

        Assert.StartsWith("No working libgpiod (libgpiod.so.3: not found; libgpiod.so.2: opening gpiochip0 \"pinctrl-bcm2711\" failed (InvalidOperationException: broken)).", error.Message);
    }

    [Theory]
    [InlineData("libgpiod", GpioDriverKind.Libgpiod)]
    [InlineData(" Simulated ", GpioDriverKind.Simulated)]
    public void Driver_setting_is_parsed_in_any_case(string text, GpioDriverKind expected)
    {
        Assert.Equal(expected, GpioControllerFactory.ParseKind(text));
    }

    [Fact]
    public void Unknown_driver_setting_names_the_key_and_the_choices()
    {
        var error = Assert.Throws<FormatException>(() => GpioControllerFactory.ParseKind("sysfs"));

        Assert.Equal("Gpio.Driver: expected \"libgpiod\" (Raspberry Pi) or \"simulated\" (tests, demos); found \"sysfs\".", error.Message);
    }

    private sealed class TableAccess : GpioControllerFactory.LibgpiodAccess
    {
        public bool V1 { get; init; }
        public bool V2 { get; init; }
        public bool V1Fails { get; init; }
        public bool V2Fails { get; init; }
        public IReadOnlyList<GpioChipInfo> Chips { get; init; } = [];
        public List<(GpioControllerFactory.LibgpiodApi, GpioChipInfo)> Created { get; } = [];

        public override bool LibraryExists(string name) =>
            name == GpioControllerFactory.LibgpiodV2Library ? V2 : V1;

        public override IReadOnlyList<GpioChipInfo> ListChips(GpioControllerFactory.LibgpiodApi api) => Chips;

        public override GpioDriver CreateDriver(GpioControllerFactory.LibgpiodApi api, GpioChipInfo chip)
        {
            if ((api == GpioControllerFactory.LibgpiodApi.V2 && V2Fails) || (api == GpioControllerFactory.LibgpiodApi.V1 && V1Fails))
            {
                throw new InvalidOperationException("broken");
            }

            Created.Add((api, chip));
            return new SimulatedGpioDriver(chip.NumLines);
        }
    }
}
