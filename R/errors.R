# Conditions: one-line errors that name the problem and the fix, and the wrapper that turns
# Python exceptions into such errors.

# Signal an error of class "scmvp_error" without the call (the message says what to do).
.abort <- function(..., class = NULL) {
  msg <- paste0(...)
  cond <- structure(class = c(class, "scmvp_error", "error", "condition"),
                    list(message = msg, call = NULL))
  stop(cond)
}

.warn <- function(...) {
  warning(paste0(...), call. = FALSE)
}

.inform <- function(verbose, ...) {
  if (isTRUE(verbose)) message(paste0(...))
  invisible()
}

# Run `expr` (a Python call) and turn a Python exception into a short R error.
#  * scmvp.ScMVPInputError (bad input; its message says what to do) -> "scMVP: <message>"
#  * anything else -> the exception type and message, with a pointer to the traceback and to
#    scmvp_config(); the full Python traceback stays in reticulate::py_last_error().
.py_call <- function(expr, what = "scMVP") {
  tryCatch(expr, error = function(e) {
    if (inherits(e, "scmvp_error")) stop(e)
    info <- tryCatch(reticulate::py_last_error(), error = function(e2) NULL)
    type <- if (!is.null(info)) info$type else ""
    value <- if (!is.null(info)) info$value else conditionMessage(e)
    value <- .one_line(value)
    if (identical(type, "ScMVPInputError")) {
      .abort("scMVP: ", value, class = "scmvp_input_error")
    }
    if (!nzchar(type)) {
      .abort(what, " failed: ", .one_line(conditionMessage(e)),
             " (run scmvp_config() to check the Python set-up).", class = "scmvp_python_error")
    }
    .abort(what, " failed in Python: ", type, ": ", value,
           " (traceback: reticulate::py_last_error(); set-up: scmvp_config()).",
           class = "scmvp_python_error")
  })
}

.one_line <- function(x) {
  x <- paste(x, collapse = " ")
  x <- gsub("[[:space:]]+", " ", x)
  trimws(x)
}
