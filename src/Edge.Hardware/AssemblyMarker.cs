namespace Edge.Hardware; internal static class AssemblyMarker { }
