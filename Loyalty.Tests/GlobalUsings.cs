// What nearly every test uses (the app, its fakes and HTTP/JSON), once for the project; each file names only the rest.
global using System.Net;
global using System.Net.Http.Json;
global using System.Text;
global using System.Text.Json;
global using Loyalty.Tests.Infrastructure;
global using Microsoft.Extensions.DependencyInjection;
global using WireMock.RequestBuilders;
global using WireMock.ResponseBuilders;
