using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Edge.Sync;
using Edge.Sync.Protocol;
using Microsoft.Extensions.Time.Testing;

namespace Edge.Tests.Sync;

public class CommandVerifier_Tests
{
    private static readonly DateTime Now = new(2026, 11, 23, 3, 0, 0, DateTimeKind.Utc);
    private readonly ECDsa _owner = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly HashSet<string> _seen = [];

    private CommandVerifier Verifier() => new(ECDsa.Create(_owner.ExportParameters(false)), "site", "box", TimeSpan.FromMinutes(5), new FakeTimeProvider(Now));

    private bool Remember(string id, DateTime _) => _seen.Add(id);

    private static CommandBody Body(string name = "ping", string site = "site", string device = "box", DateTime? issued = null, string? id = null) =>
        new(id ?? Guid.NewGuid().ToString(), name, site, device, issued ?? Now, JsonDocument.Parse("{}").RootElement);

    [Fact]
    public void A_command_signed_with_the_owners_key_for_this_box_is_accepted_once()
    {
        var signed = CommandSigning.Sign(_owner, Body());
        Assert.True(Verifier().Check("ping", signed, Remember).Accepted);
        var again = Verifier().Check("ping", signed, Remember);
        Assert.Equal(CommandErrors.Replayed, again.Error);
    }

    [Fact]
    public void A_command_signed_with_another_key_is_refused_as_bad_signature()
    {
        using var stranger = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var check = Verifier().Check("ping", CommandSigning.Sign(stranger, Body()), Remember);
        Assert.Equal(CommandErrors.BadSignature, check.Error);
        Assert.Empty(_seen); // an unsigned command never reaches the nonce store
    }

    [Fact]
    public void A_body_changed_after_signing_is_refused_as_bad_signature()
    {
        var envelope = JsonSerializer.Deserialize<SignedCommand>(CommandSigning.Sign(_owner, Body(device: "box")), SyncJson.Options)!;
        var body = Encoding.UTF8.GetString(Convert.FromBase64String(envelope.Body)).Replace("\"ping\"", "\"resend\"");
        var forged = SyncJson.Serialize(envelope with { Body = Convert.ToBase64String(Encoding.UTF8.GetBytes(body)) });
        Assert.Equal(CommandErrors.BadSignature, Verifier().Check("resend", forged, Remember).Error);
    }

    [Theory]
    [InlineData(-301)]
    [InlineData(301)]
    public void A_command_issued_more_than_the_max_age_away_from_the_boxs_clock_is_refused_as_expired(int seconds)
    {
        var check = Verifier().Check("ping", CommandSigning.Sign(_owner, Body(issued: Now.AddSeconds(seconds))), Remember);
        Assert.Equal(CommandErrors.Expired, check.Error);
        Assert.Contains("at most 300 s", check.Detail);
    }

    [Fact]
    public void A_command_for_another_device_is_refused_as_wrong_device()
    {
        Assert.Equal(CommandErrors.WrongDevice, Verifier().Check("ping", CommandSigning.Sign(_owner, Body(device: "other-box")), Remember).Error);
    }

    [Fact]
    public void A_command_whose_name_is_not_the_topics_or_is_unknown_is_refused()
    {
        Assert.Equal(CommandErrors.Malformed, Verifier().Check("resend", CommandSigning.Sign(_owner, Body("ping")), Remember).Error);
        Assert.Equal(CommandErrors.UnknownCommand, Verifier().Check("reboot", CommandSigning.Sign(_owner, Body("reboot")), Remember).Error);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not json")]
    [InlineData("[]")]
    [InlineData("{\"schema\":1}")]
    [InlineData("{\"schema\":2,\"body\":\"e30=\",\"signature\":\"AA==\"}")]
    [InlineData("{\"schema\":1,\"body\":\"%%%\",\"signature\":\"AA==\"}")]
    [InlineData("{\"schema\":\"one\",\"body\":1,\"signature\":null}")]
    public void Malformed_envelopes_are_refused_as_malformed_without_throwing(string payload)
    {
        var check = Verifier().Check("ping", Encoding.UTF8.GetBytes(payload), Remember);
        Assert.Equal(CommandErrors.Malformed, check.Error);
        Assert.NotNull(check.Detail);
    }

    [Fact]
    public void A_box_without_a_command_key_refuses_every_command()
    {
        var verifier = new CommandVerifier(null, "site", "box", TimeSpan.FromMinutes(5), new FakeTimeProvider(Now));
        Assert.Equal(CommandErrors.BadSignature, verifier.Check("ping", CommandSigning.Sign(_owner, Body()), Remember).Error);
    }
}
