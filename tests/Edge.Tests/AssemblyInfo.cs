// Edge runs on Linux only: GPIO, fsync of directories, Unix sockets and file modes are Linux facts.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
