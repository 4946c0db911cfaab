// The namespaces nearly every feature slice uses (data access, options, Shopify, HTTP results, settings, the POS client),
// once for the project, so each file's own usings name only what is particular to it.
global using System.Globalization;
global using System.Text;
global using System.Text.Json;
global using Dapper;
global using Loyalty.Pos;
global using Loyalty.ShopifyApp.Features.Points;
global using Loyalty.ShopifyApp.Features.Settings;
global using Loyalty.ShopifyApp.Infrastructure.Http;
global using Loyalty.ShopifyApp.Infrastructure.Shopify;
global using Microsoft.AspNetCore.DataProtection;
global using Microsoft.AspNetCore.Http.HttpResults;
global using Microsoft.Extensions.Options;
global using Npgsql;
