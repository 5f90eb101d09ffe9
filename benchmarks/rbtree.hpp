// SPDX-License-Identifier: Apache-2.0
//
// benchmarks/rbtree.hpp: an intrusive red-black tree with the kernel's <linux/rbtree.h> shape.
//
// Theory of operation. Baseline B1 (benchmarks/baselines.hpp) reproduces the data structures
// of drivers/vfio/vfio_iommu_type1.c: struct vfio_dma and struct vfio_pfn each embed a
// struct rb_node {parent pointer and colour in one word, right, left} (24 bytes), the driver
// searches top-down with its own comparisons (vfio_find_dma, vfio_find_vpfn), links a new node
// where the search ended (rb_link_node) and rebalances (rb_insert_color); removal is rb_erase.
// This header offers those pieces so that B1 visits the same nodes as the kernel and its nodes
// have the kernel's sizes. It is written from the textbook algorithm (Cormen et al., ch. 13,
// with explicit null leaves), not from the kernel's source.
//   link(n, parent, slot)   rb_link_node: n becomes a red leaf at *slot under parent
//   insert_colour(n, root)  rb_insert_color
//   erase(n, root)          rb_erase
//   destroy(root, f)        f(node) for every node, children first (teardown)
//   check(root, key)        the red-black properties, parent links and key order (smoke test)
#ifndef VFIOPIN_BENCHMARKS_RBTREE_HPP
#define VFIOPIN_BENCHMARKS_RBTREE_HPP

#include <cstdint>

namespace vfiopin::bench {

/// struct rb_node: parent | colour (bit 0 set = black), right, left.
struct rb_node {
  std::uintptr_t parent_colour = 0;
  rb_node* right = nullptr;
  rb_node* left = nullptr;
};

/// struct rb_root.
struct rb_root {
  rb_node* node = nullptr;
};

namespace rb {

inline constexpr std::uintptr_t black_bit = 1;

inline rb_node* parent(const rb_node* n) noexcept {
  return reinterpret_cast<rb_node*>(n->parent_colour & ~std::uintptr_t{3});
}
/// Null leaves are black.
inline bool is_black(const rb_node* n) noexcept {
  return n == nullptr || (n->parent_colour & black_bit) != 0;
}
inline bool is_red(const rb_node* n) noexcept { return !is_black(n); }
inline void set_parent(rb_node* n, rb_node* p) noexcept {
  n->parent_colour = reinterpret_cast<std::uintptr_t>(p) | (n->parent_colour & black_bit);
}
inline void set_black(rb_node* n) noexcept { n->parent_colour |= black_bit; }
inline void set_red(rb_node* n) noexcept { n->parent_colour &= ~black_bit; }
inline void copy_colour(rb_node* to, const rb_node* from) noexcept {
  to->parent_colour = (to->parent_colour & ~black_bit) | (from->parent_colour & black_bit);
}

/// Makes the slot of p (or the root) that holds `from` hold `to`.
inline void replace_child(rb_node* p, const rb_node* from, rb_node* to, rb_root& root) noexcept {
  if (p == nullptr) root.node = to;
  else if (p->left == from) p->left = to;
  else p->right = to;
}

/// The left (right == false) or right child slot of n.
inline rb_node*& child(rb_node* n, bool right) noexcept { return right ? n->right : n->left; }

/// Rotates x down: its child on side `up` (right: a left rotation) takes its place.
inline void rotate(rb_node* x, bool up, rb_root& root) noexcept {
  rb_node* y = child(x, up);
  child(x, up) = child(y, !up);
  if (child(y, !up) != nullptr) set_parent(child(y, !up), x);
  rb_node* p = parent(x);
  set_parent(y, p);
  replace_child(p, x, y, root);
  child(y, !up) = x;
  set_parent(x, y);
}

/// rb_link_node: n becomes a red leaf in the slot `*slot` of `p` (null p: the root slot).
inline void link(rb_node* n, rb_node* p, rb_node** slot) noexcept {
  n->parent_colour = reinterpret_cast<std::uintptr_t>(p);
  n->left = nullptr;
  n->right = nullptr;
  *slot = n;
}

/// rb_insert_color: restores the properties after link().
inline void insert_colour(rb_node* n, rb_root& root) noexcept {
  for (;;) {
    rb_node* p = parent(n);
    if (p == nullptr) {
      set_black(n);
      return;
    }
    if (is_black(p)) return;
    rb_node* g = parent(p);               // p is red, so it is not the root
    const bool outer = p == g->left;      // the side away from p, seen from g
    rb_node* uncle = child(g, outer);
    if (is_red(uncle)) {
      set_black(p);
      set_black(uncle);
      set_red(g);
      n = g;
      continue;
    }
    if (n == child(p, outer)) {  // inner grandchild: rotate it above p first
      rotate(p, outer, root);
      p = n;
    }
    rotate(g, !outer, root);
    set_black(p);
    set_red(g);
    return;
  }
}

/// Restores the properties after a black node was removed; x (maybe null) took its place
/// under xp and is one black short.
inline void erase_fixup(rb_node* x, rb_node* xp, rb_root& root) noexcept {
  while (x != root.node && is_black(x)) {
    // A null x is on the side whose child is null: its sibling side has black height >= 1.
    const bool far = x == xp->left;  // the sibling's side
    rb_node* w = child(xp, far);
    if (is_red(w)) {
      set_black(w);
      set_red(xp);
      rotate(xp, far, root);
      w = child(xp, far);
    }
    if (is_black(w->left) && is_black(w->right)) {
      set_red(w);
      x = xp;
      xp = parent(x);
      continue;
    }
    if (is_black(child(w, far))) {
      set_black(child(w, !far));
      set_red(w);
      rotate(w, !far, root);
      w = child(xp, far);
    }
    copy_colour(w, xp);
    set_black(xp);
    set_black(child(w, far));
    rotate(xp, far, root);
    x = root.node;
    break;
  }
  if (x != nullptr) set_black(x);
}

/// rb_erase: unlinks z (the caller frees it).
inline void erase(rb_node* z, rb_root& root) noexcept {
  rb_node* x = nullptr;   // what moves into the vacated position (may be null)
  rb_node* xp = nullptr;  // x's parent afterwards
  bool removed_black = false;
  if (z->left == nullptr || z->right == nullptr) {
    x = z->left != nullptr ? z->left : z->right;
    xp = parent(z);
    removed_black = is_black(z);
    if (x != nullptr) set_parent(x, xp);
    replace_child(xp, z, x, root);
  } else {
    rb_node* y = z->right;  // z's successor takes z's place and colour
    while (y->left != nullptr) y = y->left;
    removed_black = is_black(y);
    x = y->right;
    if (parent(y) == z) {
      xp = y;
    } else {
      xp = parent(y);
      xp->left = x;  // y was the left child of its parent
      if (x != nullptr) set_parent(x, xp);
      y->right = z->right;
      set_parent(z->right, y);
    }
    replace_child(parent(z), z, y, root);
    y->parent_colour = z->parent_colour;
    y->left = z->left;
    set_parent(z->left, y);
  }
  if (removed_black) erase_fixup(x, xp, root);
}

/// f(node) for every node of the subtree n, children before their parent.
template <class F>
void destroy_subtree(rb_node* n, F& f) {
  while (n != nullptr) {
    destroy_subtree(n->left, f);
    rb_node* right = n->right;
    f(n);
    n = right;
  }
}
template <class F>
void destroy(rb_root& root, F&& f) {
  destroy_subtree(root.node, f);
  root.node = nullptr;
}

/// Black height of the subtree n, or -1 if a property, a parent link or the order fails
/// (every key strictly between those of lo and hi, where given).
template <class Key>
int check_subtree(const rb_node* n, const rb_node* p, Key& key, const rb_node* lo,
                  const rb_node* hi) {
  if (n == nullptr) return 1;
  if (parent(n) != p) return -1;
  if (is_red(n) && (is_red(n->left) || is_red(n->right))) return -1;
  if ((lo != nullptr && !(key(lo) < key(n))) || (hi != nullptr && !(key(n) < key(hi)))) return -1;
  const int l = check_subtree(n->left, n, key, lo, n);
  const int r = check_subtree(n->right, n, key, n, hi);
  if (l < 0 || l != r) return -1;
  return l + (is_black(n) ? 1 : 0);
}
/// True if the tree is a valid red-black tree, strictly ordered by key(node).
template <class Key>
bool check(const rb_root& root, Key&& key) {
  if (!is_black(root.node)) return false;
  return check_subtree(root.node, nullptr, key, nullptr, nullptr) > 0;
}

}  // namespace rb
}  // namespace vfiopin::bench

#endif  // VFIOPIN_BENCHMARKS_RBTREE_HPP
