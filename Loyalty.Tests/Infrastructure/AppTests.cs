namespace Loyalty.Tests.Infrastructure;

/// <summary>
/// Tests on their class's app (<typeparamref name="TFixture"/>, started once for the class), each in a new shop installed
/// before it runs. What a test asserts about the database or the fakes' journals is scoped to its own <see cref="Shop"/>
/// (or to shops it made itself): the tests before it in the class left their shops behind on the same app.
/// </summary>
public abstract class AppTests<TFixture>(TFixture fixture) : IClassFixture<TFixture>, IAsyncLifetime where TFixture : AppFixture
{
    protected TFixture Fixture { get; } = fixture;

    protected LoyaltyApp App => Fixture.App;

    protected ShopifyFake Shopify => Fixture.Shopify;

    /// <summary>This test's shop, installed.</summary>
    protected string Shop { get; private set; } = null!;

    public virtual async Task InitializeAsync() => Shop = await Fixture.NewShopAsync();

    public virtual Task DisposeAsync() => Task.CompletedTask;
}
