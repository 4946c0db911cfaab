# The reference image: build with the SDK, run on the ASP.NET runtime as a non-root user.
# Read-only root file system friendly: nothing is written but /tmp (mount a tmpfs there); data protection keys,
# Hangfire and all state live in PostgreSQL. Configure with environment variables (README, Configuration).
# .ci/image-contract runs the same publish output the same way (this user, these variables, this command),
# since CI machines have no Docker engine.

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish Loyalty.ShopifyApp -c Release -o /app -p:UseAppHost=false

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app .
ENV ASPNETCORE_ENVIRONMENT=Production \
    ASPNETCORE_HTTP_PORTS=8080 \
    DOTNET_EnableDiagnostics=0 \
    Logging__Console__FormatterName=json
USER 1654
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=6s --start-period=30s --retries=3 CMD ["dotnet", "Loyalty.ShopifyApp.dll", "healthcheck"]
ENTRYPOINT ["dotnet", "Loyalty.ShopifyApp.dll"]
