"""DICOM parts of the pipeline: headers, identity, File IDs, transcoding, DICOMDIR."""
