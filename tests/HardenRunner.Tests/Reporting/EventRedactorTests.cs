using HardenRunner.Events;
using HardenRunner.Reporting;
using HardenRunner.Tests.Store;

namespace HardenRunner.Tests.Reporting;

public sealed class EventRedactorTests
{
    private const string Token = "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";

    [Fact]
    public void EveryTextField_OfEveryKind_IsRedacted()
    {
        var process = new ProcessInfo(1, $"/tmp/{Token}", $"curl -H 'Authorization: token {Token}'", [new AncestorInfo(2, $"/x/{Token}")]);
        var step = new StepInfo($"a{Token}", $"acme/{Token}");
        ApplianceEvent[] events =
        [
            SampleEvents.Https() with { Host = $"{Token}.x.test", Path = $"/p?token={Token}", Rule = $"rule {Token}", Process = process, Step = step },
            new DetectionEvent(SampleEvents.T0, "t", "low", $"s {Token}", new Dictionary<string, string> { ["Cookie"] = "plain", [$"k{Token}"] = $"v {Token}" }) { Process = process, Step = step },
            new ProcessEvent(SampleEvents.T0, 1, 0, $"/bin/{Token}", $"x --token {Token}", SampleEvents.T0, 0, 0, step),
            new FileEvent(SampleEvents.T0, $"/w/{Token}", FileEvent.Create, true, process, step),
        ];
        foreach (var e in events)
        {
            var text = SampleEvents.Canonical(EventRedactor.Redact(e));
            Assert.DoesNotContain(Token[4..], text, StringComparison.Ordinal);
        }

        var d = (DetectionEvent)EventRedactor.Redact(events[1]);
        Assert.Equal(SecretRedactor.Mask, d.Evidence["Cookie"]);
    }

    [Fact]
    public void CleanEvent_IsEqualAfterRedaction()
    {
        foreach (var e in SampleEvents.OneOfEach())
        {
            Assert.Equal(SampleEvents.Canonical(e), SampleEvents.Canonical(EventRedactor.Redact(e)));
        }
    }
}
