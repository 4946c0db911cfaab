using Loyalty.ShopifyApp.Features;
using Loyalty.ShopifyApp.Infrastructure.Db;
using Loyalty.ShopifyApp.Infrastructure.Jobs;
using Loyalty.ShopifyApp.Infrastructure.Security;
using Loyalty.ShopifyApp.Infrastructure.Telemetry;
using Loyalty.ShopifyApp.Sandbox;

if (args is ["healthcheck", ..]) return await Loyalty.ShopifyApp.Features.Health.HealthProbe.RunAsync(args); // the image's HEALTHCHECK

var builder = WebApplication.CreateBuilder(args);
builder.UseCliPort();
builder.AddLoyaltyLogging();
builder.AddLoyaltyTelemetry();

builder.AddLoyaltyDb();
builder.AddLoyaltyDataProtection();
builder.AddShopify();
builder.AddLoyaltyJobs();
builder.AddFeatures();
builder.AddSandbox();
builder.Services.AddForwardedClients();
builder.Services.AddApiDescription();
builder.Services.AddProblemAnswers();

var app = builder.Build();

app.UseForwardedClients(); // first: everything after sees the client a trusted proxy names
app.UseExceptionHandler();
app.UseStatusCodePages();
app.UseAuthentication();
app.UseAuthorization();
app.UseAppProxyVerification();
app.UseRateLimiter(); // after the proxy verification: the storefront's limits count Shopify's shop and customer
app.MapFeatures();
app.MapApiDescription();

app.Run();
return 0;

/// <summary>Entry point, visible to the tests' WebApplicationFactory.</summary>
public partial class Program;
