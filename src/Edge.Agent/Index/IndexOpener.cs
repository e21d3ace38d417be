using Edge.Agent.Configuration;

namespace Edge.Agent.Index;

public static class IndexOpener
{
    /// <summary>Opens the configured index; a bad key file becomes a configuration error naming index.keyFile.</summary>
    public static EdgeIndex Open(EdgeSettings settings, bool createKeyIfMissing)
    {
        try
        {
            return EdgeIndex.Open(settings.IndexDirectory, settings.IndexKeyFile, createKeyIfMissing);
        }
        catch (IndexKeyException e)
        {
            throw new ConfigException(settings.ConfigPath, [$"index.keyFile: {e.Message}"]);
        }
    }
}
