// Decrypts and verifies a sealed file, given its data key. Order: header (magic, version, binding, MAC), then the
// final chunk (so a truncated file, or one with chunks dropped or added, is reported as such before any output), then
// every data chunk in order, then the plaintext's length and SHA-256 against the final chunk. Any failure throws
// SealedSegmentException; the caller (SealedSegments) discards whatever was written.
using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Edge.Agent.Sealing;

/// <summary>A sealed segment did not open: wrong key, a changed or truncated file, or a file of another segment.</summary>
public sealed class SealedSegmentException(string message, Exception? inner = null) : Exception(message, inner);

internal static class SealReader
{
    private const string DoNotTrust = "Do not trust this copy: restore the file from a backup or the central copy.";

    public static SealResult Open(Stream file, string name, ReadOnlySpan<byte> dataKey, ReadOnlySpan<byte> expectedBinding, Stream output)
    {
        long length = file.Length;
        long minimum = SealedFormat.HeaderSize + SealedFormat.FinalChunkSize;
        if (length < minimum)
            throw new SealedSegmentException($"Sealed file {name} is {length} bytes; a sealed file is at least {minimum} bytes. It was truncated. {DoNotTrust}");

        Span<byte> header = stackalloc byte[SealedFormat.HeaderSize];
        file.Position = 0;
        file.ReadExactly(header);
        if (!header[..8].SequenceEqual(SealedFormat.Magic))
            throw new SealedSegmentException($"Sealed file {name} does not start with EDGESEAL; expected a segment sealed by edge. The header was changed, or this is not a sealed segment. {DoNotTrust}");
        if (header[8] != SealedFormat.Version || header[9] != SealedFormat.Suite)
            throw new SealedSegmentException($"Sealed file {name} has format version {header[8]}, suite {header[9]}; this edge reads version {SealedFormat.Version}, suite {SealedFormat.Suite}. The header was changed, or the file needs a newer edge.");
        int chunkSize = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(header[12..]), int.MaxValue);
        if (header[10] != 0 || header[11] != 0 || chunkSize < 1 || chunkSize > SealedFormat.MaxChunkSize)
            throw new SealedSegmentException($"Sealed file {name} has a damaged header (chunk size {chunkSize}, expected 1..{SealedFormat.MaxChunkSize}; reserved bytes must be 0). {DoNotTrust}");

        var chunkKey = new byte[SealedFormat.DataKeySize];
        var headerKey = new byte[SealedFormat.DataKeySize];
        byte[]? buffer = null;
        try
        {
            SealedFormat.DeriveFileKeys(dataKey, chunkKey, headerKey);
            bool bindingMatches = header.Slice(SealedFormat.BindingOffset, 32).SequenceEqual(expectedBinding);
            if (!SealedFormat.HeaderMacMatches(header, headerKey))
                throw new SealedSegmentException(bindingMatches
                    ? $"Sealed file {name}: its header does not authenticate with this segment's key; the header was changed. {DoNotTrust}"
                    : $"Sealed file {name} belongs to another segment: its header names a different segment and does not authenticate with this segment's key. The file was swapped or moved; find this segment's own file (its name is in the index), or restore it from a backup.");
            if (!bindingMatches)
                throw new SealedSegmentException($"Sealed file {name} is bound to another segment than the one asked for, although its key opens it. The index record or the file was replaced. {DoNotTrust}");

            long body = length - SealedFormat.HeaderSize - SealedFormat.FinalChunkSize;
            long storedChunk = chunkSize + SealedFormat.TagSize;
            long chunks = (body + storedChunk - 1) / storedChunk;
            using var gcm = new AesGcm(chunkKey, SealedFormat.TagSize);
            Span<byte> nonce = stackalloc byte[SealedFormat.NonceSize];

            Span<byte> final = stackalloc byte[SealedFormat.FinalChunkSize];
            Span<byte> finalPlain = stackalloc byte[SealedFormat.FinalPlainSize];
            file.Position = length - SealedFormat.FinalChunkSize;
            file.ReadExactly(final);
            SealedFormat.ChunkNonce(chunks, final: true, nonce);
            try
            {
                gcm.Decrypt(nonce, final[..SealedFormat.FinalPlainSize], final[SealedFormat.FinalPlainSize..], finalPlain);
            }
            catch (AuthenticationTagMismatchException e)
            {
                throw new SealedSegmentException($"Sealed file {name} ({length} bytes): its final chunk does not authenticate as chunk {chunks}; the file was truncated or extended, " +
                    $"or chunks were dropped, duplicated or changed at its end. {DoNotTrust}", e);
            }
            long plaintextLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(finalPlain);
            if (plaintextLength > long.MaxValue / 2 || SealedFormat.StoredLength(plaintextLength, chunkSize) != length)
                throw new SealedSegmentException($"Sealed file {name} is {length} bytes, but its final chunk records {plaintextLength} bytes of footage, which seal to {SealedFormat.StoredLength(Math.Min(plaintextLength, long.MaxValue / 2), chunkSize)} bytes. {DoNotTrust}");

            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            buffer = ArrayPool<byte>.Shared.Rent((int)storedChunk * 2);
            var stored = buffer.AsMemory(0, (int)storedChunk);
            var plain = buffer.AsMemory((int)storedChunk, chunkSize);
            file.Position = SealedFormat.HeaderSize;
            long remaining = plaintextLength;
            for (long i = 0; i < chunks; i++)
            {
                int n = (int)Math.Min(chunkSize, remaining);
                file.ReadExactly(stored.Span[..(n + SealedFormat.TagSize)]);
                SealedFormat.ChunkNonce(i, final: false, nonce);
                try
                {
                    gcm.Decrypt(nonce, stored.Span[..n], stored.Span.Slice(n, SealedFormat.TagSize), plain.Span[..n]);
                }
                catch (AuthenticationTagMismatchException e)
                {
                    long offset = SealedFormat.HeaderSize + i * storedChunk;
                    throw new SealedSegmentException($"Sealed file {name}: chunk {i} of {chunks} (bytes {offset}..{offset + n + SealedFormat.TagSize - 1}) does not authenticate; " +
                        $"it was changed, or chunks were reordered, swapped or replaced. {DoNotTrust}", e);
                }
                hash.AppendData(plain.Span[..n]);
                output.Write(plain.Span[..n]);
                remaining -= n;
            }
            Span<byte> sha = stackalloc byte[32];
            hash.GetHashAndReset(sha);
            if (!CryptographicOperations.FixedTimeEquals(sha, finalPlain[8..]))
                throw new SealedSegmentException($"Sealed file {name}: the footage decrypted, but its SHA-256 {Convert.ToHexStringLower(sha)} differs from the {Convert.ToHexStringLower(finalPlain[8..])} sealed with it. " +
                    $"The file was built wrongly or tampered with by someone holding its key. {DoNotTrust}");
            return new SealResult(plaintextLength, Convert.ToHexStringLower(sha), length, "");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(chunkKey);
            CryptographicOperations.ZeroMemory(headerKey);
            if (buffer is not null)
            {
                CryptographicOperations.ZeroMemory(buffer);
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }
}
