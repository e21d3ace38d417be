namespace Edge.Tests; public class Placeholder_Tests { }
