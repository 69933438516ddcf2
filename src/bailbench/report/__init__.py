"""Reports people would rather look at: figures, exports and a self-contained HTML page
with a transcript browser, for one run or several."""
