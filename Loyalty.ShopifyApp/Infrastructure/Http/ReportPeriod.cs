namespace Loyalty.ShopifyApp.Infrastructure.Http;

/// <summary>
/// The <c>from</c>/<c>to</c> of a report, checked before any arithmetic on them: a <c>to</c> in the year 1 minus the
/// default 30 days would overflow, and a period far outside the shop's life only makes the database work for nothing.
/// </summary>
public static class ReportPeriod
{
    private const string CalendarRule = "Must fall between the years 2000 and 2999.";

    /// <summary>Null with the period to report on; otherwise the 422 <c>invalid_period</c> naming the field.</summary>
    public static ProblemHttpResult? Resolve(DateTimeOffset? from, DateTimeOffset? to, DateTimeOffset now, out DateTimeOffset since,
        out DateTimeOffset until)
    {
        since = until = default;
        var errors = new Dictionary<string, string[]>();
        if (from is { } f && !InCalendar(f)) errors["from"] = [CalendarRule];
        if (to is { } t && !InCalendar(t)) errors["to"] = [CalendarRule];
        if (errors.Count > 0) return Invalid("The period is outside the calendar this app reports on.", errors);

        until = to ?? now;
        since = from ?? until.AddDays(-30);
        return since >= until ? Invalid("from must be before to.", new() { ["from"] = ["Must be before to."] }) : null;
    }

    /// <summary>The 422 for a period the caller refuses for its own reason (e.g. too long).</summary>
    public static ProblemHttpResult Invalid(string title, Dictionary<string, string[]> errors) =>
        Problems.Validation("invalid_period", title, "See errors for each field.", new Dictionary<string, object?> { ["errors"] = errors });

    private static bool InCalendar(DateTimeOffset date) => date.Year is >= 2000 and < 3000;
}
