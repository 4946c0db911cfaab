using System.Security.Cryptography;

namespace Loyalty.ShopifyApp.Features.Conversion;

/// <summary>Conversion ids and coupon codes.</summary>
public static class ConversionIds
{
    // No look-alike characters (0/O, 1/I/L).
    private const string Alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";

    public static string NewId() => "conv_" + Random(24);

    /// <summary>The seed's format: <c>{customerId}-{6 random chars}-{amount}</c>, e.g. 70934-AB12CD-500.</summary>
    public static string NewCode(long customerId, decimal amount) =>
        $"{customerId}-{Random(6)}-{(amount == decimal.Truncate(amount)
            ? ((long)amount).ToString(System.Globalization.CultureInfo.InvariantCulture)
            : amount.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture).Replace('.', 'P'))}";

    private static string Random(int length) => string.Create(length, 0, (span, _) =>
    {
        for (var i = 0; i < span.Length; i++) span[i] = Alphabet[RandomNumberGenerator.GetInt32(Alphabet.Length)];
    });
}
