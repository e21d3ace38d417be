// Builds the GpioController the door monitors use: the libgpiod driver on a Raspberry Pi, or the
// simulated driver on test machines and in demos (Gpio.Driver in the configuration). System.Device.Gpio
// 4.2.0's own driver choice cannot be trusted (it never falls back, and crashes on a Pi 5 with only
// libgpiod v2), so this picks the libgpiod API by the library present (libgpiod.so.3: v2 API,
// libgpiod.so.2: v1 API) and the chip by its label, not its number: the GPIO header's chip is
// pinctrl-bcm2835 on a Pi 3, pinctrl-bcm2711 on a Pi 4 and pinctrl-rp1 on a Pi 5, and its number
// changes between boards and kernels.

using System.Device.Gpio;
using System.Device.Gpio.Drivers;
using System.Runtime.InteropServices;

namespace Edge.Hardware.Gpio;

public enum GpioDriverKind
{
    /// <summary>libgpiod on a Raspberry Pi (character device /dev/gpiochipN).</summary>
    Libgpiod,
    /// <summary><see cref="SimulatedGpioDriver"/>: pins in memory, for tests and demos.</summary>
    Simulated,
}

public sealed record GpioControllerOptions
{
    /// <summary>
    /// Label of the GPIO chip to use instead of the known Raspberry Pi labels (check with
    /// <c>gpiodetect</c>). Libgpiod only.
    /// </summary>
    public string? ChipLabel { get; init; }

    /// <summary>Driver to wrap for <see cref="GpioDriverKind.Simulated"/>; a new one when null.
    /// Pass your own to drive it from code or from a <see cref="GpioScenarioPlayer"/>.</summary>
    public SimulatedGpioDriver? SimulatedDriver { get; init; }
}

public static class GpioControllerFactory
{
    /// <summary>Labels of the 40-pin header's GPIO chip: Pi 5, Pi 4, Pi 3 (and older).</summary>
    public static readonly IReadOnlyList<string> RaspberryPiChipLabels = ["pinctrl-rp1", "pinctrl-bcm2711", "pinctrl-bcm2835"];

    internal const string LibgpiodV2Library = "libgpiod.so.3";
    internal const string LibgpiodV1Library = "libgpiod.so.2";

    /// <summary>Creates a controller; the caller owns and disposes it (after the monitors using it).</summary>
    /// <exception cref="GpioUnavailableException">No usable libgpiod or no matching chip; the message says what to do.</exception>
    public static GpioController Create(GpioDriverKind kind, GpioControllerOptions? options = null) =>
        Create(kind, options, out _);

    /// <param name="description">What was chosen, for the startup log, e.g. "libgpiod v1 API (libgpiod.so.2), gpiochip0 \"pinctrl-bcm2711\" (58 lines)".</param>
    public static GpioController Create(GpioDriverKind kind, GpioControllerOptions? options, out string description) =>
        Create(kind, options, LibgpiodAccess.System, out description);

    /// <summary>Parses the configuration value of Gpio.Driver ("libgpiod" or "simulated", any case).</summary>
    /// <exception cref="FormatException">Anything else; the message names <paramref name="key"/>.</exception>
    public static GpioDriverKind ParseKind(string? value, string key = "Gpio.Driver") => value?.Trim().ToLowerInvariant() switch
    {
        "libgpiod" => GpioDriverKind.Libgpiod,
        "simulated" => GpioDriverKind.Simulated,
        _ => throw new FormatException($"{key}: expected \"libgpiod\" (Raspberry Pi) or \"simulated\" (tests, demos); found {(value is null ? "nothing" : $"\"{value}\"")}."),
    };

    /// <summary>
    /// Picks the chip whose label is <paramref name="chipLabel"/>, or else the first known Raspberry
    /// Pi label present (in the order of <see cref="RaspberryPiChipLabels"/>).
    /// </summary>
    /// <exception cref="GpioUnavailableException">No chip matches; the message lists the chips found.</exception>
    public static GpioChipInfo SelectChip(IReadOnlyList<GpioChipInfo> chips, string? chipLabel)
    {
        var wanted = string.IsNullOrWhiteSpace(chipLabel) ? RaspberryPiChipLabels : [chipLabel.Trim()];
        foreach (var label in wanted)
        {
            var match = chips.FirstOrDefault(c => string.Equals(c.Label, label, StringComparison.Ordinal));
            if (match is not null)
            {
                return match;
            }
        }

        var looked = string.Join(", ", wanted.Select(l => $"\"{l}\""));
        if (chips.Count == 0)
        {
            throw new GpioUnavailableException(
                $"No GPIO chips found (looked for {looked}): /dev/gpiochip* is missing or not readable. " +
                "On a Raspberry Pi, run the service as a member of the gpio group; on a test machine set Gpio.Driver to \"simulated\".");
        }

        var found = string.Join(", ", chips.Select(c => $"{c.Name} \"{c.Label}\" ({c.NumLines} lines)"));
        throw new GpioUnavailableException(
            $"No GPIO chip labelled {looked}; found {found}. " +
            "Set Gpio.ChipLabel to the label of the chip with the header pins (see gpiodetect), or on a test machine set Gpio.Driver to \"simulated\".");
    }

    internal static GpioController Create(GpioDriverKind kind, GpioControllerOptions? options, LibgpiodAccess access, out string description)
    {
        options ??= new GpioControllerOptions();
        if (kind == GpioDriverKind.Simulated)
        {
            var driver = options.SimulatedDriver ?? new SimulatedGpioDriver();
            var chip = driver.GetChipInfo();
            description = $"simulated GPIO driver, chip \"{chip.Label}\" ({chip.NumLines} lines)";
            return new GpioController(driver);
        }

        if (kind != GpioDriverKind.Libgpiod)
        {
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "Expected Libgpiod or Simulated.");
        }

        var failures = new List<string>();
        foreach (var api in new[] { LibgpiodApi.V2, LibgpiodApi.V1 })
        {
            var library = api == LibgpiodApi.V2 ? LibgpiodV2Library : LibgpiodV1Library;
            if (!access.LibraryExists(library))
            {
                failures.Add($"{library}: not found");
                continue;
            }

            IReadOnlyList<GpioChipInfo> chips;
            try
            {
                chips = access.ListChips(api);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // Catch broadly: a library of the wrong version fails with anything from
                // DllNotFound/EntryPointNotFound to GpiodException.
                failures.Add($"{library}: listing chips failed ({ex.GetType().Name}: {ex.Message})");
                continue;
            }

            var chosen = SelectChip(chips, options.ChipLabel);
            try
            {
                var driver = access.CreateDriver(api, chosen);
                description = $"libgpiod {(api == LibgpiodApi.V2 ? "v2" : "v1")} API ({library}), {chosen.Name} \"{chosen.Label}\" ({chosen.NumLines} lines)";
                return new GpioController(driver);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                failures.Add($"{library}: opening {chosen.Name} \"{chosen.Label}\" failed ({ex.GetType().Name}: {ex.Message})");
            }
        }

        var noneFound = failures.All(f => f.EndsWith(": not found", StringComparison.Ordinal));
        throw new GpioUnavailableException(
            $"{(noneFound ? "No libgpiod found" : "No working libgpiod")} ({string.Join("; ", failures)}). " +
            $"On a Raspberry Pi install it (Debian 12 / Raspberry Pi OS bookworm: apt install libgpiod2); " +
            "on a test machine set Gpio.Driver to \"simulated\".");
    }

    internal enum LibgpiodApi
    {
        V1,
        V2,
    }

    /// <summary>The native side of driver selection, replaceable in tests.</summary>
    internal class LibgpiodAccess
    {
        public static readonly LibgpiodAccess System = new();

        public virtual bool LibraryExists(string name)
        {
            if (!NativeLibrary.TryLoad(name, out var handle))
            {
                return false;
            }

            NativeLibrary.Free(handle);
            return true;
        }

        public virtual IReadOnlyList<GpioChipInfo> ListChips(LibgpiodApi api) =>
            api == LibgpiodApi.V2 ? [.. LibGpiodV2Driver.GetAvailableChips()] : [.. LibGpiodDriver.GetAvailableChips()];

        public virtual GpioDriver CreateDriver(LibgpiodApi api, GpioChipInfo chip) =>
            api == LibgpiodApi.V2 ? new LibGpiodV2Driver(chip.Id) : new LibGpiodDriver(chip.Id);
    }
}

/// <summary>GPIO hardware access is not possible on this machine as configured.</summary>
public sealed class GpioUnavailableException(string message) : InvalidOperationException(message);
