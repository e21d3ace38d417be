// How `edge doctor` and `edge monitor` reach a broker: mqtt:// or mqtts:// with a private CA, a client certificate
// and key (PEM files, as scripts/make-certs writes them), optionally a username and password file. The box's own sync
// client (Edge.Sync) is separate; this is for the short-lived connections of the operator tools.
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MQTTnet;

namespace Edge.Agent.Broker;

/// <summary>Where a broker is and how to prove who we are to it.</summary>
public sealed record BrokerEndpoint(Uri Url, string? CaFile = null, string? CertFile = null, string? KeyFile = null,
    string? Username = null, string? PasswordFile = null)
{
    public bool UseTls => Url.Scheme == "mqtts";

    public int Port => Url.IsDefaultPort || Url.Port <= 0 ? (UseTls ? 8883 : 1883) : Url.Port;

    public static BrokerEndpoint From(Edge.Sync.SyncOptions sync) =>
        new(sync.Broker, sync.CaFile, sync.CertFile, sync.KeyFile, sync.Username, sync.PasswordFile);

    /// <summary>Parses --broker: mqtt://HOST[:PORT] or mqtts://HOST[:PORT].</summary>
    /// <exception cref="FormatException">Anything else, with the reason.</exception>
    public static Uri ParseUrl(string text)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var url) || url.Scheme is not ("mqtt" or "mqtts") || url.Host.Length == 0)
            throw new FormatException($"'{text}' is not an mqtt:// or mqtts:// URL with a host (e.g. mqtts://broker.example:8883)");
        return url;
    }

    public override string ToString() => $"{Url.Scheme}://{Url.Host}:{Port}";
}

/// <summary>A certificate or key file that cannot be used; the message names the file and the problem.</summary>
public sealed class BrokerSetupException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Builds MQTTnet client options for an endpoint and remembers why the broker's certificate was refused, if it was
/// (MQTTnet only reports "the remote certificate is invalid"; the technician needs to know which check failed).
/// </summary>
public sealed class BrokerConnection
{
    private readonly X509Certificate2Collection? _trust;

    public BrokerConnection(BrokerEndpoint endpoint)
    {
        Endpoint = endpoint;
        if (endpoint.UseTls && endpoint.CaFile is { } ca)
        {
            _trust = new X509Certificate2Collection();
            try { _trust.ImportFromPemFile(ca); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
            {
                throw new BrokerSetupException($"CA file {ca}: cannot be read as PEM certificates ({e.Message})", e);
            }
            if (_trust.Count == 0) throw new BrokerSetupException($"CA file {ca}: holds no PEM certificate");
        }
        if (endpoint.UseTls && (endpoint.CertFile is null) != (endpoint.KeyFile is null))
            throw new BrokerSetupException("a client certificate needs its key, and a key its certificate: give both or neither");
        if (endpoint.UseTls && endpoint.CertFile is { } cert && endpoint.KeyFile is { } key)
            ClientCertificate = LoadClientCertificate(cert, key);
    }

    public BrokerEndpoint Endpoint { get; }

    public X509Certificate2? ClientCertificate { get; }

    /// <summary>Why the last TLS handshake refused the broker's certificate; null when it did not.</summary>
    public string? CertificateProblem { get; private set; }

    public MqttClientOptionsBuilder CreateOptions(string clientId, TimeSpan timeout)
    {
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(Endpoint.Url.Host, Endpoint.Port)
            .WithClientId(clientId)
            .WithTimeout(timeout)
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
            .WithCleanStart(true);
        if (Endpoint.Username is { } user)
        {
            string password = "";
            if (Endpoint.PasswordFile is { } file)
            {
                try { password = File.ReadAllText(file).TrimEnd('\r', '\n'); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new BrokerSetupException($"password file {file}: cannot be read ({e.Message})", e);
                }
            }
            builder.WithCredentials(user, password);
        }
        if (Endpoint.UseTls)
            builder.WithTlsOptions(tls =>
            {
                tls.UseTls(true).WithTargetHost(Endpoint.Url.Host).WithCertificateValidationHandler(Validate);
                if (ClientCertificate is not null) tls.WithClientCertificates([ClientCertificate]);
            });
        return builder;
    }

    /// <summary>Why a connection attempt threw, in words a technician can act on.</summary>
    public string DescribeFailure(Exception e)
    {
        if (CertificateProblem is { } problem) return problem;
        while (e.InnerException is not null) e = e.InnerException;
        var message = e.Message.Split('\n')[0].Trim();
        // mosquitto ends the handshake without a word when a required client certificate is missing.
        if (Endpoint.UseTls && ClientCertificate is null && e is not System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionRefused })
            message += " (no client certificate was given; a broker that requires one closes the connection like this)";
        return message;
    }

    /// <summary>A CONNACK that refuses: the MQTT 5 reason code by name and number, and the broker's reason string.</summary>
    public static string DescribeRefusal(MqttClientConnectResult result) =>
        $"the broker refused the connection: {result.ResultCode} (MQTT reason code {(int)result.ResultCode})" +
        (string.IsNullOrEmpty(result.ReasonString) ? "" : ": " + result.ReasonString);

    private bool Validate(MqttClientCertificateValidationEventArgs e)
    {
        CertificateProblem = null;
        if ((e.SslPolicyErrors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0)
            return Refuse("the broker sent no certificate");
        if ((e.SslPolicyErrors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
            return Refuse($"the broker's certificate does not name {Endpoint.Url.Host} (check its subjectAltName, or connect by the name it has)");
        if (_trust is null)
            return (e.SslPolicyErrors & SslPolicyErrors.RemoteCertificateChainErrors) == 0
                || Refuse($"the broker's certificate does not chain to a CA this machine trusts ({Describe(e.Chain)}); give the broker's CA file");
        // A private CA: trust it alone, not the system's store.
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_trust);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (e.Chain is { } presented)
            foreach (var element in presented.ChainElements.Skip(1)) chain.ChainPolicy.ExtraStore.Add(element.Certificate);
        using var certificate = new X509Certificate2(e.Certificate);
        return chain.Build(certificate)
            || Refuse($"the broker's certificate ({certificate.Subject}) does not verify against {Endpoint.CaFile}: {Describe(chain)}");
    }

    private bool Refuse(string problem)
    {
        CertificateProblem = problem;
        return false;
    }

    private static string Describe(X509Chain? chain) =>
        chain is null || chain.ChainStatus.Length == 0 ? "no chain" : string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Distinct());

    private static X509Certificate2 LoadClientCertificate(string certFile, string keyFile)
    {
        try
        {
            using var pem = X509Certificate2.CreateFromPemFile(certFile, keyFile);
            // SslStream wants a key it can use for the handshake; a PKCS#12 round trip gives one on every platform.
            return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new BrokerSetupException($"client certificate {certFile} with key {keyFile}: cannot be loaded ({e.Message.Trim()}); both must be PEM and the key must belong to the certificate", e);
        }
    }
}
