#' scMVP: multi-view deep generative model for paired single-cell RNA and ATAC data
#'
#' A Seurat front end to the scMVP Python package. Main functions: [RunSCMVP()] (fit, embed,
#' cluster and impute), [ProjectSCMVP()] (embed new cells with a stored model),
#' [SaveSCMVPModel()] / [LoadSCMVPModel()], [install_scmvp()] and [scmvp_config()] (Python
#' set-up), [ReadSCMVPExample()] (the bundled SNARE-seq data). Options: [scMVP-options].
#'
#' @keywords internal
#' @importClassesFrom Matrix dgCMatrix
#' @importFrom methods new
"_PACKAGE"
