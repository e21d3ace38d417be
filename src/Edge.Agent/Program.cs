using Edge.Agent.Cli;

var context = new CommandContext(Console.Out, Console.Error, TimeProvider.System);
return await EdgeCli.InvokeAsync(args, context);
