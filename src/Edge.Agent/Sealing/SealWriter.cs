// Encrypts a plaintext stream into the sealed format in one pass: header, data chunks, final chunk. The plaintext's
// length and SHA-256 go into the final chunk (authenticated and encrypted), so the staged file is read once.
// The work is three independent passes over the same bytes: SHA-256 of the plaintext, AES-GCM, SHA-256 of the
// ciphertext. With `parallel` each batch of 4 chunks runs them on up to three threads (hash of batch k, encryption
// of batch k, write + hash of the ciphertext of batch k-1); the result is byte-identical either way.
using System.Buffers;
using System.Security.Cryptography;

namespace Edge.Agent.Sealing;

internal sealed record SealResult(long PlaintextBytes, string PlaintextSha256, long StoredBytes, string StoredSha256);

internal static class SealWriter
{
    // 4 × 64 KiB: sealing a staged file on one thread measured the same with 256 KiB batches as with 1 MiB ones
    // (353–401 vs 363–385 MB/s, `scripts/bench seal`, alternated), and the buffers stay small. They come from a pool of our own, not ArrayPool<byte>.Shared: the shared pool keeps one
    // array of each size per thread that returned one, and sealing runs on whichever pool thread is free, so four
    // cameras left 10–15 MiB of 1–2 MiB batch buffers parked on pool threads (docs/benchmarks.md, "Memory"). This pool
    // keeps at most what the most seals at once ever needed.
    private const int ChunksPerBatch = 4;
    private static readonly ArrayPool<byte> Buffers = ArrayPool<byte>.Create(maxArrayLength: 1 << 20, maxArraysPerBucket: 16);

    public static SealResult Seal(Stream source, Stream destination, ReadOnlySpan<byte> dataKey, ReadOnlySpan<byte> binding,
        int chunkSize = SealedFormat.DefaultChunkSize, bool parallel = true, CancellationToken cancellationToken = default)
    {
        if (chunkSize < 1 || chunkSize > SealedFormat.MaxChunkSize)
            throw new ArgumentOutOfRangeException(nameof(chunkSize), chunkSize, $"expected 1..{SealedFormat.MaxChunkSize}");
        var chunkKey = new byte[SealedFormat.DataKeySize];
        var headerKey = new byte[SealedFormat.DataKeySize];
        SealedFormat.DeriveFileKeys(dataKey, chunkKey, headerKey);

        int batchPlain = chunkSize * ChunksPerBatch;
        int batchStored = (chunkSize + SealedFormat.TagSize) * ChunksPerBatch;
        var plain = new[] { Buffers.Rent(batchPlain), Buffers.Rent(batchPlain) };
        var cipher = new[] { Buffers.Rent(batchStored), Buffers.Rent(batchStored) };
        using var gcm = new AesGcm(chunkKey, SealedFormat.TagSize);
        using var plainHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var storedHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        try
        {
            Span<byte> header = stackalloc byte[SealedFormat.HeaderSize];
            SealedFormat.WriteHeader(header, chunkSize, binding, headerKey);
            destination.Write(header);
            storedHash.AppendData(header);

            long plaintextBytes = 0, chunkIndex = 0, storedBytes = SealedFormat.HeaderSize;
            int slot = 0, pendingSlot = -1, pendingLength = 0;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int read = source.ReadAtLeast(plain[slot].AsSpan(0, batchPlain), batchPlain, throwOnEndOfStream: false);
                if (read == 0) break;
                int chunks = (read + chunkSize - 1) / chunkSize;
                int storedLength = read + chunks * SealedFormat.TagSize;
                var (p, c, first, s, ps, pl) = (plain[slot], cipher[slot], chunkIndex, slot, pendingSlot, pendingLength);

                void HashPlain() => plainHash.AppendData(p, 0, read);
                void Encrypt() => EncryptBatch(gcm, p, read, c, first, chunkSize);
                void WritePending()
                {
                    if (ps < 0) return;
                    destination.Write(cipher[ps], 0, pl);
                    storedHash.AppendData(cipher[ps], 0, pl);
                }
                if (parallel) Parallel.Invoke(HashPlain, Encrypt, WritePending);
                else { HashPlain(); Encrypt(); WritePending(); }

                plaintextBytes += read;
                chunkIndex += chunks;
                storedBytes += storedLength;
                (pendingSlot, pendingLength) = (s, storedLength);
                slot ^= 1;
                if (read < batchPlain) break;
            }
            if (pendingSlot >= 0)
            {
                destination.Write(cipher[pendingSlot], 0, pendingLength);
                storedHash.AppendData(cipher[pendingSlot], 0, pendingLength);
            }

            Span<byte> final = stackalloc byte[SealedFormat.FinalChunkSize];
            Span<byte> finalPlain = stackalloc byte[SealedFormat.FinalPlainSize];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(finalPlain, (ulong)plaintextBytes);
            plainHash.GetHashAndReset(finalPlain[8..]);
            var plaintextSha = Convert.ToHexStringLower(finalPlain[8..]);
            Span<byte> nonce = stackalloc byte[SealedFormat.NonceSize];
            SealedFormat.ChunkNonce(chunkIndex, final: true, nonce);
            gcm.Encrypt(nonce, finalPlain, final[..SealedFormat.FinalPlainSize], final[SealedFormat.FinalPlainSize..]);
            destination.Write(final);
            storedHash.AppendData(final);
            storedBytes += SealedFormat.FinalChunkSize;
            return new SealResult(plaintextBytes, plaintextSha, storedBytes, Convert.ToHexStringLower(storedHash.GetHashAndReset()));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(chunkKey);
            CryptographicOperations.ZeroMemory(headerKey);
            // The plaintext batches are wiped before they go back to the shared pool.
            foreach (var b in plain) { CryptographicOperations.ZeroMemory(b); Buffers.Return(b); }
            foreach (var b in cipher) Buffers.Return(b);
        }
    }

    private static void EncryptBatch(AesGcm gcm, byte[] plain, int length, byte[] cipher, long firstChunk, int chunkSize)
    {
        Span<byte> nonce = stackalloc byte[SealedFormat.NonceSize];
        int inOffset = 0, outOffset = 0;
        for (long index = firstChunk; inOffset < length; index++)
        {
            int n = Math.Min(chunkSize, length - inOffset);
            SealedFormat.ChunkNonce(index, final: false, nonce);
            gcm.Encrypt(nonce, plain.AsSpan(inOffset, n), cipher.AsSpan(outOffset, n), cipher.AsSpan(outOffset + n, SealedFormat.TagSize));
            inOffset += n;
            outOffset += n + SealedFormat.TagSize;
        }
    }
}
