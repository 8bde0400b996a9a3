using System.Text.Json.Serialization;

namespace HardenRunner.Control;

/// <summary>
/// The control socket's answers as JSON, generated at compile time (the appliance ships as a Native AOT executable,
/// where reflection-based serialisation is not available). An answer is a flat object: strings, or for
/// <c>status</c> strings, numbers and booleans.
/// </summary>
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(Dictionary<string, object>))]
[JsonSerializable(typeof(bool))]
[JsonSerializable(typeof(int))]
[JsonSerializable(typeof(long))]
internal sealed partial class ControlJson : JsonSerializerContext;
