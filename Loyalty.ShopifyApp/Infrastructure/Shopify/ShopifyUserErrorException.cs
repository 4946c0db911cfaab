namespace Loyalty.ShopifyApp.Infrastructure.Shopify;

/// <summary>A mutation's <c>userErrors</c>: Shopify refused the request itself (not an outage).</summary>
public sealed class ShopifyUserErrorException(string operation, IReadOnlyList<(string? Code, string Message)> errors)
    : Exception($"{operation}: {string.Join("; ", errors.Select(e => $"{e.Code}: {e.Message}"))}")
{
    public IReadOnlyList<(string? Code, string Message)> Errors { get; } = errors;

    public bool Has(string code) => Errors.Any(e => e.Code == code);
}
