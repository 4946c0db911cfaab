using Loyalty.ShopifyApp.Infrastructure.Configuration;

namespace Loyalty.ShopifyApp.Features.Pending;

/// <summary>
/// Section <c>ProgramClock</c>: how far the points program's time starts ahead of the real one. For the soak, which restarts its app
/// instances a year on to see points expire (the sandbox moves it from its home page instead); refused outside Development.
/// </summary>
public sealed class ProgramClockOptions
{
    public const string Section = "ProgramClock";

    [SettingRange(0, 3650, ErrorMessage = "ProgramClock:OffsetDays must be 0-3,650.")]
    public int OffsetDays { get; set; }
}

[OptionsValidator]
public sealed partial class ProgramClockOptionsValidator : IValidateOptions<ProgramClockOptions>;
