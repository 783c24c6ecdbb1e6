// The receive seam's types (BufferOwner, Datagram, DatagramSink) live in common/pipeline.h, the
// one leaf header shared by every stage; receive:: names kept for its users.
#pragma once

#include "common/pipeline.h"

namespace jagent::receive {
using jagent::BufferOwner;
using jagent::Datagram;
using jagent::DatagramSink;
}  // namespace jagent::receive
