using Loyalty.ShopifyApp.Features.Storefront;

namespace Loyalty.Tests.Features.Storefront;

/// <summary>The conversion choices My Page offers a customer, computed without an app.</summary>
public sealed class MyPointsTests
{
    [Fact]
    public void Conversion_choices_follow_minimum_step_balance_and_the_daily_limit()
    {
        Assert.Equal([500, 700, 900, 1100, 1300, 1500], MyPoints.Choices(500, 100, 1550, 10_000));
        Assert.Equal([500], MyPoints.Choices(500, 100, 550, 10_000));
        Assert.Equal([500, 750], MyPoints.Choices(500, 250, 12_000, 900));
        Assert.Empty(MyPoints.Choices(500, 100, 499, 10_000));
        Assert.Empty(MyPoints.Choices(500, 100, 5000, 400));
    }
}
