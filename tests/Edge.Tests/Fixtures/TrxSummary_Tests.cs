// scripts/lib/trx-summary turns dotnet test's TRX files into the line CI
// reads ("N passed, N failed, N skipped") and the list of failed tests above
// it; a miscount there would make CI lie, so it is pinned down here.
namespace Edge.Tests.Fixtures;

public class TrxSummary_Tests
{
    // Shaped like the files `dotnet test --logger trx` writes (VSTest, xunit adapter).
    private const string Trx = """
        <?xml version="1.0" encoding="utf-8"?>
        <TestRun id="1" name="run" xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2010">
          <Results>
            <UnitTestResult executionId="a" testId="1" testName="Edge.Tests.A_Tests.Passes" computerName="vm" duration="00:00:00.01" outcome="Passed" testType="t" testListId="l" relativeResultsDirectory="a" />
            <UnitTestResult executionId="b" testId="2" testName="Edge.Tests.A_Tests.Case(n: 1)" computerName="vm" duration="00:00:00.01" outcome="Passed" testType="t" testListId="l" relativeResultsDirectory="b" />
            <UnitTestResult executionId="c" testId="3" testName="Edge.Tests.A_Tests.Case(n: 2)" computerName="vm" duration="00:00:00.01" outcome="Passed" testType="t" testListId="l" relativeResultsDirectory="c" />
            <UnitTestResult executionId="d" testId="4" testName="Edge.Tests.A_Tests.Skipped" computerName="vm" duration="00:00:00" outcome="NotExecuted" testType="t" testListId="l" relativeResultsDirectory="d">
              <Output><StdOut>not yet</StdOut></Output>
            </UnitTestResult>
            <UnitTestResult executionId="e" testId="5" testName="Edge.Tests.A_Tests.Compares&lt;T&gt;" computerName="vm" duration="00:00:00.02" outcome="Failed" testType="t" testListId="l" relativeResultsDirectory="e">
              <Output>
                <ErrorInfo>
                  <Message>Assert.Equal() Failure: Strings differ
        Expected: "&lt;a &amp; b&gt;"</Message>
                  <StackTrace>at Edge.Tests.A_Tests.Compares()</StackTrace>
                </ErrorInfo>
              </Output>
            </UnitTestResult>
          </Results>
          <ResultSummary outcome="Failed">
            <Counters total="5" executed="4" passed="3" failed="1" error="0" timeout="0" aborted="0" inconclusive="0" passedButRunAborted="0" notRunnable="0" notExecuted="1" disconnected="0" warning="0" completed="0" inProgress="0" pending="0" />
          </ResultSummary>
        </TestRun>
        """;

    [Fact]
    public async Task Counts_every_case_and_lists_failures_above_the_summary_line()
    {
        var output = await SummarizeAsync(Trx);

        var lines = output.TrimEnd('\n').Split('\n');
        Assert.Equal("3 passed, 1 failed, 1 skipped", lines[^1]);
        Assert.Equal("Failed tests:", lines[0]);
        Assert.Equal("  Edge.Tests.A_Tests.Compares<T>", lines[1]);
        Assert.Equal("      Assert.Equal() Failure: Strings differ", lines[2]);
    }

    [Fact]
    public async Task Results_of_several_files_are_added_up()
    {
        var output = await SummarizeAsync(Trx, Trx);

        Assert.EndsWith("6 passed, 2 failed, 2 skipped\n", output);
    }

    [Fact]
    public async Task Run_without_results_reads_zero_passed_zero_failed()
    {
        var output = await SummarizeAsync("""<TestRun><Results></Results></TestRun>""");

        Assert.Equal("0 passed, 0 failed, 0 skipped\n", output);
    }

    private static async Task<string> SummarizeAsync(params string[] files)
    {
        var dir = Directory.CreateTempSubdirectory("edge-trx-");
        try
        {
            var paths = new List<string>();
            for (var i = 0; i < files.Length; i++)
            {
                var path = Path.Combine(dir.FullName, $"run{i}.trx");
                await File.WriteAllTextAsync(path, files[i]);
                paths.Add(path);
            }
            var result = await ProcessRunner.RunAsync("perl", [RepoPaths.ScriptLib("trx-summary"), .. paths], TimeSpan.FromSeconds(30));
            Assert.True(result.Succeeded, $"trx-summary failed: {result.StandardError}");
            return result.StandardOutput;
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
