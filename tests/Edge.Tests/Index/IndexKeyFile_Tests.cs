// The key file: created random, 32 bytes, owner-only, when missing and allowed; every malformed file is refused
// with a message naming the path and what was wrong.
using Edge.Agent.Index;

namespace Edge.Tests.Index;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class IndexKeyFile_Tests : IDisposable
{
    private readonly IndexScratch _scratch = new();

    public void Dispose() => _scratch.Dispose();

    [Fact]
    public void A_missing_key_is_created_as_32_random_bytes_mode_0600_in_a_0700_directory()
    {
        var key = IndexKeyFile.LoadOrCreate(_scratch.KeyPath, create: true);

        Assert.Equal(32, key.Length);
        Assert.Equal(key, File.ReadAllBytes(_scratch.KeyPath));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_scratch.KeyPath));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute,
            File.GetUnixFileMode(Path.GetDirectoryName(_scratch.KeyPath)!));
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(_scratch.KeyPath)!)); // no temporary left behind
    }

    [Fact]
    public void Two_created_keys_differ()
    {
        var first = IndexKeyFile.LoadOrCreate(Path.Combine(_scratch.Root, "a.key"), create: true);
        var second = IndexKeyFile.LoadOrCreate(Path.Combine(_scratch.Root, "b.key"), create: true);
        Assert.NotEqual(first, second);
    }

    [Fact]
    public void An_existing_key_is_read_back_unchanged()
    {
        var created = IndexKeyFile.LoadOrCreate(_scratch.KeyPath, create: true);
        Assert.Equal(created, IndexKeyFile.LoadOrCreate(_scratch.KeyPath, create: true));
        Assert.Equal(created, IndexKeyFile.LoadOrCreate(_scratch.KeyPath, create: false));
    }

    [Fact]
    public void A_missing_key_without_permission_to_create_names_the_path()
    {
        var error = Assert.Throws<IndexKeyException>(() => IndexKeyFile.LoadOrCreate(_scratch.KeyPath, create: false));
        Assert.Equal(_scratch.KeyPath, error.Path);
        Assert.Contains($"{_scratch.KeyPath} does not exist", error.Message);
        Assert.False(File.Exists(_scratch.KeyPath));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(31)]
    [InlineData(33)]
    [InlineData(64)]
    public void A_key_file_of_the_wrong_length_names_the_path_and_the_length_found(int length)
    {
        WriteKeyFile(System.Security.Cryptography.RandomNumberGenerator.GetBytes(length));

        var error = Assert.Throws<IndexKeyException>(() => IndexKeyFile.LoadOrCreate(_scratch.KeyPath, create: true));

        Assert.Contains($"{_scratch.KeyPath} is {length} bytes long; expected exactly 32", error.Message);
        Assert.Equal(length, new FileInfo(_scratch.KeyPath).Length); // never replaced by a new key
    }

    [Fact]
    public void A_key_file_of_zero_bytes_only_is_refused()
    {
        WriteKeyFile(new byte[32]);
        var error = Assert.Throws<IndexKeyException>(() => IndexKeyFile.LoadOrCreate(_scratch.KeyPath, create: false));
        Assert.Contains($"{_scratch.KeyPath} contains only zero bytes", error.Message);
    }

    [Fact]
    public void A_key_file_readable_by_others_is_refused_with_the_chmod_to_run()
    {
        WriteKeyFile(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        File.SetUnixFileMode(_scratch.KeyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);

        var error = Assert.Throws<IndexKeyException>(() => IndexKeyFile.LoadOrCreate(_scratch.KeyPath, create: false));

        Assert.Contains("mode 0604; expected 0600", error.Message);
        Assert.Contains($"chmod 600 {_scratch.KeyPath}", error.Message);
    }

    [Fact]
    public void A_directory_in_place_of_the_key_file_is_refused()
    {
        Directory.CreateDirectory(_scratch.KeyPath);
        var error = Assert.Throws<IndexKeyException>(() => IndexKeyFile.LoadOrCreate(_scratch.KeyPath, create: true));
        Assert.Contains($"{_scratch.KeyPath} is a directory", error.Message);
    }

    [Fact]
    public void Opening_the_index_with_a_garbage_key_file_names_the_key_file()
    {
        WriteKeyFile("not a key\n"u8.ToArray());
        var error = Assert.Throws<IndexKeyException>(() => _scratch.Open());
        Assert.Equal(_scratch.KeyPath, error.Path);
        Assert.Contains("10 bytes long", error.Message);
        Assert.False(File.Exists(_scratch.DataPath)); // nothing created under a bad key
    }

    private void WriteKeyFile(byte[] content)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_scratch.KeyPath)!);
        File.WriteAllBytes(_scratch.KeyPath, content);
        File.SetUnixFileMode(_scratch.KeyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }
}
