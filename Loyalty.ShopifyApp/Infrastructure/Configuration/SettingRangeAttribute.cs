using System.ComponentModel.DataAnnotations;
using System.Diagnostics.CodeAnalysis;

namespace Loyalty.ShopifyApp.Infrastructure.Configuration;

/// <summary>
/// <see cref="RangeAttribute"/> for options checked by the options validator generator, whose <c>ErrorMessage</c> reaches the
/// operator. The generator swaps a plain <c>[Range]</c> for a copy of its own that drops <c>ErrorMessage</c> and says "The field
/// XxxOptions.Y must be between 1 and 2147483647" (dotnet/runtime#123137); a derived attribute is used as written, so the message
/// can name the setting's key (<c>Webhooks:BatchSize</c>) and its range. Plain <c>[Range]</c> will do once the generator keeps it.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field | AttributeTargets.Parameter)]
public sealed class SettingRangeAttribute : RangeAttribute
{
    public SettingRangeAttribute(int minimum, int maximum) : base(minimum, maximum)
    {
    }

    public SettingRangeAttribute(double minimum, double maximum) : base(minimum, maximum)
    {
    }

    /// <summary>Limits parsed from text, for those no constant can name (<c>"Infinity"</c>).</summary>
    public SettingRangeAttribute([DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] Type type, string minimum, string maximum)
        : base(type, minimum, maximum)
    {
    }
}
