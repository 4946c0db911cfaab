namespace Loyalty.ShopifyApp.Features.Conversion;

/// <summary>The driver's lease on a conversion ran out and another driver claimed it: this one must change nothing more.</summary>
public sealed class LeaseLostException(string conversionId) : Exception($"The lease on conversion {conversionId} was lost.");
