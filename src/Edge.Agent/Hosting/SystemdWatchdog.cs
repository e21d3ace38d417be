// Feeds systemd's watchdog (WatchdogSec= in edge.service) only while the agent is healthy, so that a hung or broken
// agent is restarted by systemd instead of sitting there recording nothing. Healthy means: every camera's recorder
// task is alive (it supervises ffmpeg; an offline camera is still supervised, so it does not count against health),
// the index accepted a small durable write within the period (the "heartbeat" setting), and no component has
// reported a problem through AgentHealth.Report. The notification is a datagram "WATCHDOG=1" on $NOTIFY_SOCKET, sent at
// half of $WATCHDOG_USEC as sd_watchdog_enabled(3) recommends. Without those variables (a terminal, a test) this
// service does nothing. See docs/design/appliance.md.
using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Edge.Agent.Configuration;
using Edge.Agent.Index;
using Edge.Agent.Recording;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;

namespace Edge.Agent.Hosting;

/// <summary>Where and how often to feed the watchdog, from systemd's environment.</summary>
public sealed record WatchdogTarget(string NotifySocket, TimeSpan Timeout)
{
    /// <summary>Half the timeout: the period sd_watchdog_enabled(3) recommends.</summary>
    public TimeSpan Interval => Timeout / 2;

    /// <summary>
    /// NOTIFY_SOCKET and WATCHDOG_USEC as systemd sets them for a service with WatchdogSec=; null when either is missing
    /// or WATCHDOG_PID names another process (the variables were inherited, the watchdog is not ours).
    /// </summary>
    public static WatchdogTarget? FromEnvironment(Func<string, string?>? getVariable = null, int? processId = null)
    {
        getVariable ??= Environment.GetEnvironmentVariable;
        var socket = getVariable("NOTIFY_SOCKET");
        var usec = getVariable("WATCHDOG_USEC");
        if (string.IsNullOrEmpty(socket) || !long.TryParse(usec, NumberStyles.None, CultureInfo.InvariantCulture, out var microseconds) || microseconds <= 0)
            return null;
        var pid = getVariable("WATCHDOG_PID");
        if (!string.IsNullOrEmpty(pid) && pid != (processId ?? Environment.ProcessId).ToString(CultureInfo.InvariantCulture))
            return null;
        return new WatchdogTarget(socket, TimeSpan.FromTicks(microseconds * 10));
    }
}

/// <summary>Sends sd_notify(3) messages as datagrams to a Unix socket (a path, or "@name" for an abstract socket).</summary>
public sealed class NotifySocket(string path) : ISystemdNotifier
{
    private readonly string _path = path.StartsWith('@') ? "\0" + path[1..] : path;

    public bool IsEnabled => true;

    public void Notify(ServiceState state) => Send(state.ToString());

    public void Send(string message)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        socket.Connect(new UnixDomainSocketEndPoint(_path));
        socket.Send(Encoding.UTF8.GetBytes(message));
    }
}

/// <summary>The agent's health as the watchdog sees it. Components report problems here; the watchdog stops feeding while any is open.</summary>
public sealed class AgentHealth(
    Func<IReadOnlyDictionary<string, Task>> recorderTasks,
    IReadOnlyCollection<string> cameras,
    EdgeIndex index,
    TimeProvider time)
{
    public const string HeartbeatSetting = "heartbeat";

    private readonly ConcurrentDictionary<string, string> _problems = new(StringComparer.Ordinal);
    private Task? _pendingHeartbeat;
    private DateTimeOffset _pendingSince;

    /// <summary>
    /// Reports a problem of <paramref name="component"/> (the watchdog stops feeding, and systemd restarts the agent
    /// after WatchdogSec), or clears it with null. For faults the agent cannot recover from by itself.
    /// </summary>
    public void Report(string component, string? problem)
    {
        if (problem is null) _problems.TryRemove(component, out _);
        else _problems[component] = problem;
    }

    /// <summary>Problems reported and still open, by component.</summary>
    public IReadOnlyDictionary<string, string> ReportedProblems => new Dictionary<string, string>(_problems);

    /// <summary>
    /// Runs every check and returns the problems found (empty: healthy). Writes the heartbeat setting to the index and
    /// waits at most <paramref name="writeTimeout"/> for it to be durable; a write still pending at the next check
    /// counts as a problem without starting another.
    /// </summary>
    public async Task<IReadOnlyList<string>> CheckAsync(TimeSpan writeTimeout, CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        var tasks = recorderTasks();
        foreach (var camera in cameras)
        {
            if (!tasks.TryGetValue(camera, out var task)) problems.Add($"camera {camera}: its recorder is not running (not started)");
            else if (task.IsFaulted) problems.Add($"camera {camera}: its recorder died ({task.Exception?.GetBaseException().Message})");
            else if (task.IsCompleted && !cancellationToken.IsCancellationRequested) problems.Add($"camera {camera}: its recorder stopped");
        }

        var heartbeat = await HeartbeatAsync(writeTimeout, cancellationToken).ConfigureAwait(false);
        if (heartbeat is not null) problems.Add(heartbeat);

        foreach (var (component, problem) in _problems.OrderBy(p => p.Key, StringComparer.Ordinal))
            problems.Add($"{component}: {problem}");
        return problems;
    }

    private async Task<string?> HeartbeatAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (_pendingHeartbeat is { IsCompleted: false })
            return $"index: a write has not completed for {(time.GetUtcNow() - _pendingSince).TotalSeconds:0} s";
        var now = time.GetUtcNow();
        _pendingSince = now;
        // On the thread pool: a write to a hung disk blocks in fsync, and the watchdog must notice rather than hang too.
        _pendingHeartbeat = Task.Run(() => index.SetSetting(HeartbeatSetting, now.ToString("O", CultureInfo.InvariantCulture)), CancellationToken.None);
        try
        {
            await _pendingHeartbeat.WaitAsync(timeout, time, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (TimeoutException)
        {
            return $"index: a heartbeat write did not complete within {timeout.TotalSeconds:0.#} s";
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            return $"index: does not accept writes ({e.GetBaseException().Message})";
        }
    }
}

/// <summary>Sends WATCHDOG=1 every <see cref="WatchdogTarget.Interval"/> while <see cref="AgentHealth"/> finds no problem.</summary>
public sealed class SystemdWatchdog(WatchdogTarget? target, ISystemdNotifier? notifier, AgentHealth health, TimeProvider time, ILogger<SystemdWatchdog> logger)
    : BackgroundService
{
    private string? _lastStatus;

    /// <summary>Watchdog pings sent so far (for `edge status` and tests).</summary>
    public long PingsSent => Interlocked.Read(ref _pingsSent);
    private long _pingsSent;

    /// <summary>Health checks completed (each ends with a ping or without one).</summary>
    public long Checks => Interlocked.Read(ref _checks);
    private long _checks;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (target is null || notifier is null)
        {
            logger.LogDebug("systemd watchdog: not enabled (no NOTIFY_SOCKET/WATCHDOG_USEC)");
            return;
        }
        logger.LogInformation("systemd watchdog: feeding every {Interval:0.#} s while healthy (WatchdogSec {Timeout:0.#} s)",
            target.Interval.TotalSeconds, target.Timeout.TotalSeconds);
        using var timer = new PeriodicTimer(target.Interval, time);
        do
        {
            IReadOnlyList<string> problems;
            try
            {
                // The write gets most of the period: a slower one is itself a problem.
                problems = await health.CheckAsync(target.Interval * 0.8, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            Feed(problems);
            Interlocked.Increment(ref _checks);
        }
        while (await WaitForNextTickAsync(timer, stoppingToken).ConfigureAwait(false));
    }

    private static async Task<bool> WaitForNextTickAsync(PeriodicTimer timer, CancellationToken stoppingToken)
    {
        try { return await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false); }
        catch (OperationCanceledException) { return false; }
    }

    private void Feed(IReadOnlyList<string> problems)
    {
        string status = problems.Count == 0 ? "healthy" : "UNHEALTHY: " + string.Join("; ", problems);
        try
        {
            if (problems.Count == 0)
            {
                notifier!.Notify(new ServiceState("WATCHDOG=1"));
                Interlocked.Increment(ref _pingsSent);
            }
            // STATUS= shows in `systemctl status edge`; sent only when it changes.
            if (status != _lastStatus) notifier!.Notify(new ServiceState("STATUS=" + status));
        }
        catch (SocketException e)
        {
            logger.LogWarning("systemd watchdog: cannot notify {Socket}: {Error}", target!.NotifySocket, e.Message);
        }
        if (status != _lastStatus)
        {
            if (problems.Count == 0) logger.LogInformation("systemd watchdog: healthy again, feeding the watchdog");
            else logger.LogError("systemd watchdog: not feeding the watchdog, systemd will restart the agent after {Timeout:0.#} s: {Problems}",
                target!.Timeout.TotalSeconds, string.Join("; ", problems));
            _lastStatus = status;
        }
    }
}

public static class SystemdWatchdogRegistration
{
    /// <summary>Registers AgentHealth and the watchdog (active only when systemd asks for one through the environment).</summary>
    public static IServiceCollection AddSystemdWatchdog(this IServiceCollection services)
    {
        services.AddSingleton(sp => new AgentHealth(
            () => sp.GetRequiredService<RecordingService>().RecorderTasks,
            sp.GetRequiredService<EdgeSettings>().Cameras.Select(c => c.Id).ToList(),
            sp.GetRequiredService<EdgeIndex>(),
            sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp =>
        {
            var target = WatchdogTarget.FromEnvironment();
            return new SystemdWatchdog(target, target is null ? null : new NotifySocket(target.NotifySocket),
                sp.GetRequiredService<AgentHealth>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<SystemdWatchdog>>());
        });
        services.AddHostedService(sp => sp.GetRequiredService<SystemdWatchdog>());
        return services;
    }
}
