// Scenario files for the simulated GPIO driver: a JSON timeline of pin changes (levels, button
// presses, read failures) with optional contact bounce, parsed into a flat, time-ordered list of
// changes that GpioScenarioPlayer applies. The format is described in Gpio/README.md. Errors name
// the file and the JSON path (steps[3].level), what was expected and what was found.

using System.Device.Gpio;
using System.Globalization;
using System.Text.Json;

namespace Edge.Hardware.Gpio;

public enum GpioScenarioAction
{
    /// <summary>Drive the pin to <see cref="GpioScenarioChange.Level"/>.</summary>
    SetLevel,
    /// <summary>Make reads of the pin fail.</summary>
    FailReads,
    /// <summary>Make reads of the pin work again.</summary>
    RestoreReads,
}

/// <summary>One change on the timeline.</summary>
/// <param name="At">Offset from the start of the pass.</param>
/// <param name="Step">Index of the step in "steps" it comes from.</param>
public readonly record struct GpioScenarioChange(TimeSpan At, int Pin, GpioScenarioAction Action, PinValue Level, int Step);

/// <summary>A scenario file is not valid; the message names the file, the JSON path and the fix.</summary>
public sealed class GpioScenarioException(string message, Exception? inner = null) : FormatException(message, inner);

public sealed class GpioScenario
{
    private static readonly string[] RootProperties = ["initial", "bounce", "steps", "loop", "length", "description"];
    private static readonly string[] StepProperties = ["at", "pin", "level", "press", "for", "pressedLevel", "failReads", "bounce", "note"];
    private static readonly string[] BounceProperties = ["transitions", "within"];
    private static readonly string[] DurationFormats = [@"hh\:mm\:ss", @"hh\:mm\:ss\.FFFFFFF"];

    private GpioScenario(IReadOnlyDictionary<int, PinValue> initial, IReadOnlyList<GpioScenarioChange> changes, bool loop, TimeSpan length)
    {
        Initial = initial;
        Changes = changes;
        Loop = loop;
        Length = length;
    }

    /// <summary>Levels driven when playback starts, before the first step.</summary>
    public IReadOnlyDictionary<int, PinValue> Initial { get; }

    /// <summary>All changes of one pass, bounce included, ordered by time.</summary>
    public IReadOnlyList<GpioScenarioChange> Changes { get; }

    /// <summary>Replay the pass forever, one pass every <see cref="Length"/>.</summary>
    public bool Loop { get; }

    /// <summary>Duration of one pass.</summary>
    public TimeSpan Length { get; }

    public static GpioScenario Load(string path)
    {
        string json;
        try
        {
            json = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new GpioScenarioException($"GPIO scenario {path}: cannot be read ({ex.Message}). Check Gpio.Scenario in the configuration.", ex);
        }

        return Parse(json, path);
    }

    /// <param name="json">The scenario text.</param>
    /// <param name="source">Name used in error messages (the file path).</param>
    public static GpioScenario Parse(string json, string source = "scenario")
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException ex)
        {
            throw new GpioScenarioException($"GPIO scenario {source}: not valid JSON ({ex.Message}).", ex);
        }

        using (document)
        {
            return new Parser(source).Parse(document.RootElement);
        }
    }

    private sealed class Parser(string source)
    {
        private readonly Dictionary<int, PinValue?> _levels = [];
        private readonly Dictionary<int, (TimeSpan At, string Path)> _lastChange = [];
        private readonly List<GpioScenarioChange> _changes = [];

        public GpioScenario Parse(JsonElement root)
        {
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw Error("(root)", "expected an object with \"steps\"", Describe(root));
            }

            CheckProperties(root, "(root)", RootProperties);

            var initial = new Dictionary<int, PinValue>();
            if (root.TryGetProperty("initial", out var initialElement))
            {
                if (initialElement.ValueKind != JsonValueKind.Object)
                {
                    throw Error("initial", "an object of pin: level, like {\"17\": \"low\"}", Describe(initialElement));
                }

                foreach (var property in initialElement.EnumerateObject())
                {
                    var path = $"initial.{property.Name}";
                    if (!int.TryParse(property.Name, NumberStyles.None, CultureInfo.InvariantCulture, out var pin))
                    {
                        throw Error(path, "a BCM pin number as the key", $"\"{property.Name}\"");
                    }

                    var level = ReadLevel(property.Value, path);
                    initial[pin] = level;
                    _levels[pin] = level;
                }
            }

            var defaultBounce = root.TryGetProperty("bounce", out var bounceElement) ? ReadBounce(bounceElement, "bounce") : Bounce.None;

            if (!root.TryGetProperty("steps", out var steps) || steps.ValueKind != JsonValueKind.Array)
            {
                throw Error("steps", "an array of steps", root.TryGetProperty("steps", out var s) ? Describe(s) : "nothing");
            }

            var previousAt = TimeSpan.Zero;
            var index = 0;
            foreach (var step in steps.EnumerateArray())
            {
                previousAt = ReadStep(step, index, defaultBounce, previousAt);
                index++;
            }

            var loop = root.TryGetProperty("loop", out var loopElement) && ReadBool(loopElement, "loop");
            var last = _changes.Count == 0 ? TimeSpan.Zero : _changes.Max(c => c.At);
            TimeSpan length = last;
            if (root.TryGetProperty("length", out var lengthElement))
            {
                length = ReadDuration(lengthElement, "length");
                if (length < last || (loop && length <= last))
                {
                    throw Error("length", $"a duration {(loop ? "after" : "at or after")} the last change at {last:c}", $"{length:c}");
                }
            }
            else if (loop)
            {
                throw Error("length", $"the duration of one pass (after the last change at {last:c}) when \"loop\" is true", "nothing");
            }

            if (loop && length <= TimeSpan.Zero)
            {
                throw Error("length", "a positive duration for a looping scenario", $"{length:c}");
            }

            // Stable: equal times keep file order.
            var ordered = _changes.Select((c, i) => (c, i)).OrderBy(x => x.c.At).ThenBy(x => x.i).Select(x => x.c).ToList();
            return new GpioScenario(initial, ordered, loop, length);
        }

        private TimeSpan ReadStep(JsonElement step, int index, Bounce defaultBounce, TimeSpan previousAt)
        {
            var path = $"steps[{index}]";
            if (step.ValueKind != JsonValueKind.Object)
            {
                throw Error(path, "an object like {\"at\": \"00:00:05\", \"pin\": 17, \"level\": \"high\"}", Describe(step));
            }

            CheckProperties(step, path, StepProperties);
            if (!step.TryGetProperty("at", out var atElement))
            {
                throw Error($"{path}.at", "the time of the step as hh:mm:ss[.fff] from the scenario start", "nothing");
            }

            var at = ReadDuration(atElement, $"{path}.at");
            if (at < previousAt)
            {
                throw Error($"{path}.at", $"a time at or after the previous step ({previousAt:c}); list steps in time order", $"{at:c}");
            }

            var bounce = step.TryGetProperty("bounce", out var bounceElement) ? ReadBounce(bounceElement, $"{path}.bounce") : defaultBounce;
            var kinds = new[] { "pin", "press", "failReads" }.Where(k => step.TryGetProperty(k, out _)).ToList();
            if (kinds.Count != 1)
            {
                throw Error(path, "exactly one of \"pin\" (with \"level\"), \"press\" (with \"for\") or \"failReads\"",
                    kinds.Count == 0 ? "none" : string.Join(" and ", kinds.Select(k => $"\"{k}\"")));
            }

            switch (kinds[0])
            {
                case "pin":
                {
                    var pin = ReadPin(step.GetProperty("pin"), $"{path}.pin");
                    if (!step.TryGetProperty("level", out var levelElement))
                    {
                        throw Error($"{path}.level", "\"low\" or \"high\" for a \"pin\" step", "nothing");
                    }

                    Forbid(step, path, "for", "a \"pin\" step sets a level once; use \"press\" for a timed press");
                    Forbid(step, path, "pressedLevel", "\"pressedLevel\" belongs to \"press\" steps");
                    AddLevel(pin, ReadLevel(levelElement, $"{path}.level"), at, bounce, index, path);
                    break;
                }

                case "press":
                {
                    var pin = ReadPin(step.GetProperty("press"), $"{path}.press");
                    if (!step.TryGetProperty("for", out var forElement))
                    {
                        throw Error($"{path}.for", "how long the button is held, as hh:mm:ss.fff", "nothing");
                    }

                    var duration = ReadDuration(forElement, $"{path}.for");
                    if (duration <= TimeSpan.Zero)
                    {
                        throw Error($"{path}.for", "a positive duration", $"{duration:c}");
                    }

                    var pressed = step.TryGetProperty("pressedLevel", out var pressedElement) ? ReadLevel(pressedElement, $"{path}.pressedLevel") : PinValue.Low;
                    AddLevel(pin, pressed, at, bounce, index, path);
                    AddLevel(pin, !pressed, at + duration, bounce, index, $"{path} (release)");
                    break;
                }

                default:
                {
                    var pin = ReadPin(step.GetProperty("failReads"), $"{path}.failReads");
                    Forbid(step, path, "level", "\"failReads\" steps make reads fail; they set no level");
                    Forbid(step, path, "pressedLevel", "\"pressedLevel\" belongs to \"press\" steps");
                    _changes.Add(new GpioScenarioChange(at, pin, GpioScenarioAction.FailReads, PinValue.Low, index));
                    if (step.TryGetProperty("for", out var forElement))
                    {
                        var duration = ReadDuration(forElement, $"{path}.for");
                        if (duration <= TimeSpan.Zero)
                        {
                            throw Error($"{path}.for", "a positive duration (or no \"for\" to fail until the end)", $"{duration:c}");
                        }

                        _changes.Add(new GpioScenarioChange(at + duration, pin, GpioScenarioAction.RestoreReads, PinValue.Low, index));
                    }

                    break;
                }
            }

            return at;
        }

        // The level settles at 'at'; with bounce, the contact toggles before that: N transitions
        // spread over 'within', alternating, the last one (to the new level) at 'at'.
        private void AddLevel(int pin, PinValue level, TimeSpan at, Bounce bounce, int index, string path)
        {
            var previous = _levels.GetValueOrDefault(pin);
            _levels[pin] = level;
            if (previous == level || bounce.Transitions <= 1)
            {
                Add(pin, level, at, index, path);
                return;
            }

            var first = at - bounce.Within;
            var steps = bounce.Transitions - 1;
            for (var i = 0; i < bounce.Transitions; i++)
            {
                // Whole milliseconds: timers (real and fake) cannot place changes finer than that.
                var offset = TimeSpan.FromMilliseconds(Math.Floor(bounce.Within.TotalMilliseconds * i / steps));
                var value = (bounce.Transitions - 1 - i) % 2 == 0 ? level : !level;
                Add(pin, value, first + offset, index, path);
            }
        }

        private void Add(int pin, PinValue level, TimeSpan at, int index, string path)
        {
            if (at < TimeSpan.Zero)
            {
                throw Error(path, "bounce that starts at or after the scenario start; move the step later or shrink the bounce", $"bounce starting at -{-at:c}");
            }

            if (_lastChange.TryGetValue(pin, out var last) && at <= last.At)
            {
                throw Error(path, $"changes of pin {pin} after its previous change at {last.At:c} ({last.Path}); move the step later or shrink the bounce",
                    $"a change at {at:c}");
            }

            _lastChange[pin] = (at, path);
            _changes.Add(new GpioScenarioChange(at, pin, GpioScenarioAction.SetLevel, level, index));
        }

        private Bounce ReadBounce(JsonElement element, string path)
        {
            if (element.ValueKind is JsonValueKind.Null or JsonValueKind.False)
            {
                return Bounce.None;
            }

            if (element.ValueKind != JsonValueKind.Object)
            {
                throw Error(path, "{\"transitions\": 5, \"within\": \"00:00:00.010\"}, or false for a clean edge", Describe(element));
            }

            CheckProperties(element, path, BounceProperties);
            if (!element.TryGetProperty("transitions", out var t) || t.ValueKind != JsonValueKind.Number || !t.TryGetInt32(out var transitions))
            {
                throw Error($"{path}.transitions", "an odd whole number of level transitions (1 for a clean edge)", element.TryGetProperty("transitions", out t) ? Describe(t) : "nothing");
            }

            if (transitions < 1 || transitions % 2 == 0)
            {
                throw Error($"{path}.transitions", "an odd whole number from 1 (the level has to end at the new level)", transitions.ToString(CultureInfo.InvariantCulture));
            }

            var within = TimeSpan.Zero;
            if (transitions > 1)
            {
                if (!element.TryGetProperty("within", out var w))
                {
                    throw Error($"{path}.within", "the time the transitions are spread over, as hh:mm:ss.fff", "nothing");
                }

                within = ReadDuration(w, $"{path}.within");
                if (within.TotalMilliseconds < transitions - 1)
                {
                    throw Error($"{path}.within", $"at least {transitions - 1} ms, so that {transitions} transitions fall on distinct milliseconds", $"{within:c}");
                }
            }

            return new Bounce(transitions, within);
        }

        private PinValue ReadLevel(JsonElement element, string path)
        {
            var text = element.ValueKind == JsonValueKind.String ? element.GetString() : null;
            return text?.ToLowerInvariant() switch
            {
                "low" => PinValue.Low,
                "high" => PinValue.High,
                _ => throw Error(path, "\"low\" or \"high\" (the electrical level)", Describe(element)),
            };
        }

        private int ReadPin(JsonElement element, string path)
        {
            if (element.ValueKind != JsonValueKind.Number || !element.TryGetInt32(out var pin) || pin < 0)
            {
                throw Error(path, "a BCM pin number (0 or more)", Describe(element));
            }

            return pin;
        }

        private bool ReadBool(JsonElement element, string path) => element.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Error(path, "true or false", Describe(element)),
        };

        private TimeSpan ReadDuration(JsonElement element, string path)
        {
            var text = element.ValueKind == JsonValueKind.String ? element.GetString() : null;
            // Explicit formats: the "c" format would read "5" as five days.
            if (text is null || !TimeSpan.TryParseExact(text, DurationFormats, CultureInfo.InvariantCulture, out var value))
            {
                throw Error(path, "a time as \"hh:mm:ss\" or \"hh:mm:ss.fff\"", Describe(element));
            }

            if (value.Ticks % TimeSpan.TicksPerMillisecond != 0)
            {
                throw Error(path, "whole milliseconds (timers cannot place changes finer than 1 ms)", $"\"{text}\"");
            }

            return value;
        }

        private void CheckProperties(JsonElement element, string path, string[] allowed)
        {
            foreach (var property in element.EnumerateObject())
            {
                if (!allowed.Contains(property.Name, StringComparer.Ordinal))
                {
                    throw Error(path, $"only the properties {string.Join(", ", allowed)}", $"unknown property \"{property.Name}\"");
                }
            }
        }

        private void Forbid(JsonElement step, string path, string property, string why)
        {
            if (step.TryGetProperty(property, out _))
            {
                throw Error($"{path}.{property}", $"no \"{property}\" here ({why})", $"\"{property}\"");
            }
        }

        private GpioScenarioException Error(string path, string expected, string found) =>
            new($"GPIO scenario {source}: {path}: expected {expected}; found {found}. Fix the scenario file and restart.");

        private static string Describe(JsonElement element) => element.ValueKind switch
        {
            JsonValueKind.String => $"\"{element.GetString()}\"",
            JsonValueKind.Object => "an object",
            JsonValueKind.Array => "an array",
            JsonValueKind.Undefined => "nothing",
            _ => element.GetRawText(),
        };
    }

    private readonly record struct Bounce(int Transitions, TimeSpan Within)
    {
        public static readonly Bounce None = new(1, TimeSpan.Zero);
    }
}
