using Loyalty.ShopifyApp.Sandbox;

namespace Loyalty.Tests.Sandbox;

/// <summary>The sandbox's storefront emulator renders only the Liquid it renders as Shopify would (no app needed).</summary>
public sealed class StorefrontEmulatorTests
{
    [Fact]
    public void The_storefront_emulator_refuses_Liquid_it_would_render_differently_from_Shopify()
    {
        Assert.Equal("<p>{{ raw }}</p>", SandboxPages.RenderLiquid("<p>{% raw %}{{ raw }}{% endraw %}</p>"));
        Assert.Throws<InvalidOperationException>(() => SandboxPages.RenderLiquid("<p>{{ customer.first_name }}</p>"));
    }
}
