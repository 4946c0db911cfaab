namespace Loyalty.Tests.Infrastructure;

/// <summary>
/// The app as the README's run command starts it, in sandbox mode with its simulators and demo shop, for a whole test
/// class; <see cref="AppFixture.Shopify"/> must see no traffic. Its tests share the demo shop: none may change what
/// another reads.
/// </summary>
public sealed class SandboxApp : AppFixture
{
    protected override Task<LoyaltyApp> StartAppAsync() => LoyaltyApp.StartSandboxAsync(Shopify);

    public override Task<string> NewShopAsync() => throw new NotSupportedException("The sandbox has one shop, its demo shop.");
}
