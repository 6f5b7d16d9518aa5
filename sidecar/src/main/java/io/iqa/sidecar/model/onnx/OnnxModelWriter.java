package io.iqa.sidecar.model.onnx;

import com.google.protobuf.CodedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes small ONNX models (a graph of standard operators, float initializers) so the project can
 * make its own models: the default model set and test models, never a copied binary. Encodes
 * the ONNX protobuf messages by their field numbers (onnx.proto, proto2) with protobuf-java's
 * wire encoder; ONNX Runtime loading the result is the proof it is well-formed.
 */
public final class OnnxModelWriter {

  /** ONNX TensorProto.DataType values used here. */
  public static final int FLOAT = 1;
  public static final int INT64 = 7;

  private final List<byte[]> nodes = new ArrayList<>();
  private final List<byte[]> initializers = new ArrayList<>();
  private final List<byte[]> inputs = new ArrayList<>();
  private final List<byte[]> outputs = new ArrayList<>();
  private final String graphName;
  private int nodeCount;

  public OnnxModelWriter(String graphName) {
    this.graphName = graphName;
  }

  /** A graph input; a dimension of -1 is the symbolic batch size {@code N}. */
  public OnnxModelWriter input(String name, int elemType, long... dims) {
    inputs.add(valueInfo(name, elemType, dims));
    return this;
  }

  public OnnxModelWriter output(String name, int elemType, long... dims) {
    outputs.add(valueInfo(name, elemType, dims));
    return this;
  }

  /** A constant float tensor, stored as little-endian raw data. */
  public OnnxModelWriter initializer(String name, long[] dims, float... values) {
    ByteBuffer raw = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : values) {
      raw.putFloat(v);
    }
    return tensor(name, dims, FLOAT, raw.array());
  }

  /**
   * A constant int64 tensor (shapes, axes). Named apart from {@link #initializer} on purpose: as an
   * overload, integer literals meant as float weights would silently become int64.
   */
  public OnnxModelWriter int64Initializer(String name, long[] dims, long... values) {
    ByteBuffer raw = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
    for (long v : values) {
      raw.putLong(v);
    }
    return tensor(name, dims, INT64, raw.array());
  }

  /** TensorProto: dims (1), data_type (2), name (8), raw_data (9). */
  private OnnxModelWriter tensor(String name, long[] dims, int dataType, byte[] raw) {
    initializers.add(message(out -> {
      for (long d : dims) {
        out.writeInt64(1, d);
      }
      out.writeInt32(2, dataType);
      out.writeString(8, name);
      out.writeByteArray(9, raw);
    }));
    return this;
  }

  public OnnxModelWriter node(String opType, List<String> in, List<String> out, Attribute... attributes) {
    String name = opType.toLowerCase() + "_" + nodeCount++;
    nodes.add(message(o -> {
      for (String i : in) {
        o.writeString(1, i);
      }
      for (String x : out) {
        o.writeString(2, x);
      }
      o.writeString(3, name);
      o.writeString(4, opType);
      for (Attribute a : attributes) {
        o.writeByteArray(5, a.bytes);
      }
    }));
    return this;
  }

  /** The whole model (IR version 8) for the default operator set at {@code opset}. */
  public byte[] toBytes(int opset) {
    byte[] graph = message(out -> {
      for (byte[] n : nodes) {
        out.writeByteArray(1, n);
      }
      out.writeString(2, graphName);
      for (byte[] t : initializers) {
        out.writeByteArray(5, t);
      }
      for (byte[] i : inputs) {
        out.writeByteArray(11, i);
      }
      for (byte[] o : outputs) {
        out.writeByteArray(12, o);
      }
    });
    byte[] opsetId = message(out -> {
      out.writeString(1, "");
      out.writeInt64(2, opset);
    });
    return message(out -> {
      out.writeInt64(1, 8);
      out.writeString(2, "iqa-sidecar");
      out.writeByteArray(7, graph);
      out.writeByteArray(8, opsetId);
    });
  }

  public void write(Path file, int opset) throws IOException {
    Path parent = file.toAbsolutePath().getParent();
    if (parent != null) {
      Files.createDirectories(parent);
    }
    Files.write(file, toBytes(opset));
  }

  /** A node attribute (AttributeProto). */
  public static final class Attribute {
    final byte[] bytes;

    private Attribute(byte[] bytes) {
      this.bytes = bytes;
    }

    public static Attribute ints(String name, long... values) {
      return new Attribute(message(out -> {
        out.writeString(1, name);
        for (long v : values) {
          out.writeInt64(8, v);
        }
        out.writeInt32(20, 7);
      }));
    }

    public static Attribute integer(String name, long value) {
      return new Attribute(message(out -> {
        out.writeString(1, name);
        out.writeInt64(3, value);
        out.writeInt32(20, 2);
      }));
    }

    public static Attribute real(String name, float value) {
      return new Attribute(message(out -> {
        out.writeString(1, name);
        out.writeFloat(2, value);
        out.writeInt32(20, 1);
      }));
    }
  }

  private static byte[] valueInfo(String name, int elemType, long... dims) {
    byte[] shape = message(out -> {
      for (long d : dims) {
        out.writeByteArray(1, message(dim -> {
          if (d < 0) {
            dim.writeString(2, "N");
          } else {
            dim.writeInt64(1, d);
          }
        }));
      }
    });
    byte[] tensorType = message(out -> {
      out.writeInt32(1, elemType);
      out.writeByteArray(2, shape);
    });
    byte[] type = message(out -> out.writeByteArray(1, tensorType));
    return message(out -> {
      out.writeString(1, name);
      out.writeByteArray(2, type);
    });
  }

  private interface Body {
    void write(CodedOutputStream out) throws IOException;
  }

  private static byte[] message(Body body) {
    try {
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      CodedOutputStream out = CodedOutputStream.newInstance(bytes);
      body.write(out);
      out.flush();
      return bytes.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
