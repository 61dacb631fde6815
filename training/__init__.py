"""Training the digit-box reader (torch; the ``train`` extra). Never imported at run time:
the pipeline reads the exported ONNX model with ``cv2.dnn`` (``extract.digits``)."""
