// `edge provision`: first-boot provisioning from the boot partition's edge-provision.json (see Provisioning/), and
// `edge provision --check FILE`, which a technician runs on a laptop before flashing: every problem, each naming its key.
using Edge.Agent.Provisioning;

namespace Edge.Agent.Cli;

public static class ProvisionCommand
{
    public static Task<int> RunAsync(FileInfo? file, DirectoryInfo? root, FileInfo? check, CommandContext context, CancellationToken _)
    {
        if (check is not null) return Task.FromResult(Check(check.FullName, context));

        var path = file?.FullName ?? ProvisionFile.DefaultPath;
        if (!File.Exists(path))
        {
            context.Err.WriteLine($"edge: provision: no provision file at {path}; expected the file the technician wrote to the boot partition " +
                                  $"(see docs/guide/install.md), or give another with --file");
            return Task.FromResult(EdgeCli.ExitUsage);
        }
        var provisioner = new Provisioner(root?.FullName ?? "/", context.Time);
        var outcome = provisioner.Run(path);
        foreach (var line in outcome.Lines) (outcome.Succeeded ? context.Out : context.Err).WriteLine(line);
        if (outcome.ResultFile is { } result) context.Out.WriteLine($"result written to {result}");
        if (outcome.Succeeded) return Task.FromResult(EdgeCli.ExitOk);
        return Task.FromResult(outcome.Lines.Count > 0 && outcome.Lines[0].StartsWith("FAILED: ", StringComparison.Ordinal) ? EdgeCli.ExitUsage : EdgeCli.ExitFailure);
    }

    private static int Check(string path, CommandContext context)
    {
        try
        {
            var plan = ProvisionFile.Load(path, context.Time);
            context.Out.WriteLine($"{path}: OK: site {plan.Settings.SiteId}, device {plan.Settings.DeviceId}, time zone {plan.Settings.TimeZone.Id}, " +
                                  $"{plan.Settings.Cameras.Count} camera(s), {plan.Config["doors"]?.AsArray().Count ?? 0} door(s), " +
                                  $"owner key {plan.OwnerKeyId ?? "none"}, broker certificates {(plan.BrokerCaPem is null && plan.ClientCertificatePem is null ? "none" : "present")}");
            foreach (var note in plan.Notes) context.Out.WriteLine("note: " + note);
            return EdgeCli.ExitOk;
        }
        catch (ProvisionException e)
        {
            context.Err.WriteLine($"edge: provision file error: {e.File}: {e.Problems.Count} problem(s):");
            foreach (var problem in e.Problems) context.Err.WriteLine("  " + problem);
            return EdgeCli.ExitUsage;
        }
    }
}
