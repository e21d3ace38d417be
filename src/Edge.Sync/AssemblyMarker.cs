namespace Edge.Sync; internal static class AssemblyMarker { }
