namespace Loyalty.Tests.Infrastructure;

/// <summary>An app with the test webhook topics of <see cref="RecordingHandler"/> (test/effect, test/flaky, orders/updated).</summary>
public sealed class RecordingApp() : AppFixture(null, RecordingHandler.Register);
