# Gene TSS annotation (bundled mm10 / hg38 tables or the user's own) and peak-name parsing, used
# by LinkPeaksLASSO() and ExportCicero().

.annotation_cache <- new.env(parent = emptyenv())

#' Gene TSS tables for mm10 and hg38 (bundled, no internet needed)
#'
#' Reads the gene table shipped with the package for mouse mm10 (GRCm38, Ensembl 90 coordinates)
#' or human hg38 (GRCh38, Ensembl 109), one row per gene name, with 1-based transcription start
#' sites. `tss` is the canonical-transcript TSS of the GREAT v4 gene table where available and the
#' gene's Ensembl 5' end otherwise; `tss_gene` is always the Ensembl 5' end (see
#' `system.file("extdata", "annotations", "SOURCE.md", package = "scMVP")` for the sources, the
#' conversion and the checks).
#'
#' @param genome `"mm10"` or `"hg38"`.
#' @param tss Which TSS to put in the `tss` column: `"tss"` (canonical where known, default) or
#'   `"tss_gene"` (Ensembl gene 5' end).
#' @return A data.frame with columns `gene_name`, `chrom` (UCSC style, e.g. `chr1`), `tss`
#'   (1-based), `strand` (`+`/`-`), `tss_gene` and `biotype`, as [LinkPeaksLASSO()] takes it.
#' @export
#' @examples
#' genes <- GeneAnnotation("mm10")
#' genes[genes$gene_name %in% c("Sst", "Vip", "Rorb"), ]
GeneAnnotation <- function(genome = c("mm10", "hg38"), tss = c("tss", "tss_gene")) {
  if (!.is_string(genome) && !identical(genome, c("mm10", "hg38"))) {
    .abort("scMVP: genome must be \"mm10\" or \"hg38\", not ", .show(genome), ".")
  }
  if (.is_string(genome) && !genome %in% c("mm10", "hg38")) {
    .abort("scMVP: no bundled gene table for genome ", .show(genome), "; use \"mm10\" or \"hg38\", or pass your own ",
           "data.frame (gene_name, chrom, tss, strand) or GRanges as annotation.")
  }
  genome <- genome[1]
  if (!(.is_string(tss[1]) && tss[1] %in% c("tss", "tss_gene"))) .abort("scMVP: tss must be \"tss\" or \"tss_gene\".")
  tss <- tss[1]
  if (is.null(.annotation_cache[[genome]])) {
    f <- system.file("extdata", "annotations", paste0(genome, "_genes.tsv.gz"), package = "scMVP")
    if (!nzchar(f)) .abort("scMVP: the bundled gene table for ", genome, " is missing; reinstall scMVP.")
    tab <- utils::read.delim(f, colClasses = c("character", "character", "character", "numeric", "numeric", "character"),
                             quote = "", na.strings = character(), stringsAsFactors = FALSE)
    .annotation_cache[[genome]] <- tab[, c("gene_name", "chrom", "tss", "strand", "tss_gene", "biotype")]
  }
  out <- .annotation_cache[[genome]]
  if (tss == "tss_gene") out$tss <- out$tss_gene
  out
}

# The annotation as a data.frame gene_name, chrom, tss, strand (one row per gene, valid values).
# Accepts a genome name, a data.frame or a GRanges (TSS = start on "+", end on "-"; several ranges
# per gene, e.g. Signac's exon-level EnsDb annotation, are collapsed to the most 5' TSS).
.gene_tss <- function(annotation) {
  if (.is_string(annotation)) return(GeneAnnotation(annotation))
  if (methods::is(annotation, "GRanges")) {
    if (!requireNamespace("GenomicRanges", quietly = TRUE)) {
      .abort("scMVP: a GRanges annotation needs the GenomicRanges package; install it (apt: r-bioc-genomicranges) ",
             "or pass a data.frame with gene_name, chrom, tss and strand.")
    }
    mc <- as.data.frame(GenomicRanges::mcols(annotation))
    name <- if ("gene_name" %in% names(mc)) mc$gene_name else if ("symbol" %in% names(mc)) mc$symbol else names(annotation)
    if (is.null(name)) {
      .abort("scMVP: the GRanges annotation has no gene names; add a gene_name metadata column (annotation$gene_name <- ...).")
    }
    strand <- as.character(GenomicRanges::strand(annotation))
    start <- GenomicRanges::start(annotation)
    end <- GenomicRanges::end(annotation)
    df <- data.frame(gene_name = as.character(name), chrom = as.character(GenomicRanges::seqnames(annotation)),
                     tss = ifelse(strand == "-", end, start), strand = strand, stringsAsFactors = FALSE)
    df <- df[!is.na(df$gene_name) & nzchar(df$gene_name), , drop = FALSE]
    # most 5' TSS per gene: the smallest on "+", the largest on "-"
    df <- df[order(df$gene_name, ifelse(df$strand == "-", -df$tss, df$tss)), , drop = FALSE]
    df <- df[!duplicated(df$gene_name), , drop = FALSE]
    return(.check_annotation_df(df, "the GRanges annotation"))
  }
  if (is.data.frame(annotation)) return(.check_annotation_df(annotation, "the annotation data.frame"))
  .abort("scMVP: annotation must be \"mm10\", \"hg38\", a data.frame (gene_name, chrom, tss, strand) or a GRanges, not ",
         class(annotation)[1], ".")
}

.check_annotation_df <- function(df, what) {
  need <- c("gene_name", "chrom", "tss", "strand")
  miss <- setdiff(need, names(df))
  if (length(miss)) {
    .abort("scMVP: ", what, " lacks the column", if (length(miss) > 1) "s" else "", " ", paste(miss, collapse = ", "),
           "; it needs gene_name, chrom, tss (1-based) and strand (+/-), e.g. GeneAnnotation(\"mm10\").")
  }
  df <- data.frame(gene_name = as.character(df$gene_name), chrom = as.character(df$chrom),
                   tss = suppressWarnings(as.numeric(df$tss)), strand = as.character(df$strand), stringsAsFactors = FALSE)
  bad <- which(is.na(df$gene_name) | is.na(df$chrom) | is.na(df$tss) | !df$strand %in% c("+", "-"))
  if (length(bad)) {
    .abort("scMVP: ", length(bad), " rows of ", what, " have a missing gene_name, chrom or tss, or a strand other than ",
           "+/- (e.g. row ", bad[1], "); remove or fix them.")
  }
  dup <- unique(df$gene_name[duplicated(df$gene_name)])
  if (length(dup)) {
    .warn("scMVP: ", length(dup), " gene names occur more than once in ", what, " (e.g. ",
          paste(utils::head(dup, 3), collapse = ", "), "); the first row of each is used.")
    df <- df[!duplicated(df$gene_name), , drop = FALSE]
  }
  rownames(df) <- df$gene_name
  df
}

# Peak names -> data.frame(peak, chrom, start, end). Accepts "chr1-100-600", "chr1:100-600" and
# "chr1_100_600" (the chromosome may itself contain "_" or "-", e.g. "chrUn_GL000220v1").
# Any name that does not parse is an error naming it.
.parse_peaks <- function(peaks, what = "peak") {
  peaks <- as.character(peaks)
  m <- regmatches(peaks, regexec("^(.+)[:_-]([0-9]+)[_-]([0-9]+)$", peaks))
  ok <- lengths(m) == 4L
  if (!all(ok)) {
    bad <- peaks[!ok]
    .abort("scMVP: ", sum(!ok), " ", what, " names do not parse as chrom-start-end (e.g. '", bad[1], "'); name peaks ",
           "like chr1-100-600, chr1:100-600 or chr1_100_600.")
  }
  parts <- do.call(rbind, m)
  out <- data.frame(peak = peaks, chrom = parts[, 2], start = as.numeric(parts[, 3]), end = as.numeric(parts[, 4]),
                    stringsAsFactors = FALSE)
  bad <- which(out$end < out$start)
  if (length(bad)) {
    .abort("scMVP: ", length(bad), " ", what, " names have an end before the start (e.g. '", peaks[bad[1]],
           "'); check the peak names.")
  }
  out
}
