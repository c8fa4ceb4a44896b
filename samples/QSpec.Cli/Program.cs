using System.CommandLine;
using QSpec.Cli;

// qspec: chat | generate | perplexity | quantize | bench. Errors from bad input print one line and exit with code 2.
var root = new RootCommand("QSpec.NET: run Llama models with INT4 weights and QSpec speculative decoding.")
{
    ChatCommand.Create(),
    GenerateCommand.Create(),
    PerplexityCommand.Create(),
    QuantizeCommand.Create(),
    BenchCommand.Create(),
};
return CliErrors.Run(() => root.Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false }));
