// Repairs data pages torn by a power cut during a LiteDB checkpoint, before LiteDB opens the database.
//
// A checkpoint copies the pages of confirmed log transactions into the data file, fsyncs it, and only then empties
// the log. So if the cut tore a data page, the log still holds every page the checkpoint was writing, and the
// intended content of each such data page is its last confirmed copy in the log. LiteDB itself would read those
// pages from the log anyway, except page 0, which it reads from the data file at open. This pass rewrites every
// data page that both fails authentication and has a confirmed copy in the log with that copy, exactly as the
// checkpoint would have written it (transaction id cleared, not confirmed). Data pages without a log copy are left
// alone and still fail when read.
namespace Edge.Agent.Index.Storage;

internal static class CheckpointRepair
{
    // LiteDB 5.0.20 page header fields (BasePage): page id, transaction id, confirmed flag.
    private const int PageIdOffset = 0;
    private const int TransactionIdOffset = 14;
    private const int ConfirmedOffset = 18;

    /// <summary>Returns how many data pages were rewritten from the log.</summary>
    public static int Run(EncryptedPageStream data, EncryptedPageStream log)
    {
        var logPages = log.Length / EncryptedPageStream.PageSize;
        if (logPages == 0)
            return 0;

        var page = new byte[EncryptedPageStream.PageSize];
        var confirmed = new HashSet<uint>();
        var copies = new List<(uint PageId, uint Transaction, long LogPage)>();
        for (long n = 0; n < logPages; n++)
        {
            if (!log.TryReadPage(n, page) || page.AsSpan().IndexOfAnyExcept((byte)0) < 0)
                continue; // the log was checked at open; LiteDB skips blank pages the same way
            var pageId = BitConverter.ToUInt32(page, PageIdOffset);
            var transaction = BitConverter.ToUInt32(page, TransactionIdOffset);
            if (page[ConfirmedOffset] != 0)
                confirmed.Add(transaction);
            copies.Add((pageId, transaction, n));
        }

        var latest = new Dictionary<uint, long>();
        foreach (var (pageId, transaction, logPage) in copies)
        {
            if (confirmed.Contains(transaction))
                latest[pageId] = logPage; // later in the log wins, as in LiteDB's checkpoint
        }

        var repaired = 0;
        var probe = new byte[EncryptedPageStream.PageSize];
        var dataPages = data.Length / EncryptedPageStream.PageSize;
        foreach (var (pageId, logPage) in latest.OrderBy(p => p.Key))
        {
            // Pages past the data file's end were not reached yet (or their slot was cut short, which the
            // logical length already drops): LiteDB reads them from the log, and the next checkpoint writes them.
            if (pageId >= dataPages || data.TryReadPage(pageId, probe))
                continue;
            if (!log.TryReadPage(logPage, page))
                continue;
            BitConverter.TryWriteBytes(page.AsSpan(TransactionIdOffset), uint.MaxValue);
            page[ConfirmedOffset] = 0;
            data.Position = (long)pageId * EncryptedPageStream.PageSize;
            data.Write(page, 0, page.Length);
            repaired++;
        }
        if (repaired > 0)
            data.FlushDurable();
        return repaired;
    }
}
