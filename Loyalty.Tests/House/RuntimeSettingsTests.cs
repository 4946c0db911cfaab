namespace Loyalty.Tests.House;

/// <summary>
/// What the .NET runtime is told when it starts the app: the <c>runtimeconfig.json</c> its build writes, which the image and the
/// bench run as they are.
/// </summary>
public sealed class RuntimeSettingsTests
{
    [Fact]
    public void The_app_runs_the_workstation_garbage_collector()
    {
        // The Web SDK's default is the server collector, whose heaps took the app past its memory target on two cores
        // (docs/benchmarks.md, twenty-eighth session); the project file turns it off, and this holds it off.
        Assert.True(Properties().TryGetProperty("System.GC.Server", out var server), "the app's runtimeconfig.json does not say which collector");
        Assert.False(server.GetBoolean());
    }

    [Fact]
    public void The_app_compiles_its_hot_methods_without_profile_guided_instrumentation()
    {
        // .NET's default compiles hot methods again with instrumentation to profile them; without it a faulted soak peaked 23-31 MiB
        // lower, under the memory target (docs/benchmarks.md, thirty-first session). The project file turns it off.
        Assert.True(Properties().TryGetProperty("System.Runtime.TieredPGO", out var pgo),
            "the app's runtimeconfig.json does not say whether tiered PGO runs");
        Assert.False(pgo.GetBoolean());
    }

    private static JsonElement Properties()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Loyalty.ShopifyApp.runtimeconfig.json");
        using var config = JsonDocument.Parse(File.ReadAllText(path));
        return config.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties").Clone();
    }
}
